; What the planner may take whole and cut at (grammars/src/grammar.rs reads the kind sets).
;   @block      a node a rewrite may replace as a whole, whatever its parent
;   @container  a node whose named children are all blocks (a body)
;   @atomic     a node never cut into blocks, however long (strings, comments)
;   @wrapper    a node that wraps a block and belongs with it
;   @attach     a sibling that belongs to the item after it (a structural pattern)
;   @function   a function or method, for *Apply to every function*

[
  (function_item)
  (function_signature_item)
  (impl_item)
  (struct_item)
  (enum_item)
  (union_item)
  (trait_item)
  (mod_item)
  (use_declaration)
  (const_item)
  (static_item)
  (type_item)
  (macro_definition)
  (macro_rule)
  (extern_crate_declaration)
  (foreign_mod_item)
  (associated_type)
  (attribute_item)
  (inner_attribute_item)
  (let_declaration)
  (expression_statement)
  (empty_statement)
  (match_arm)
  (field_declaration)
  (enum_variant)
  (field_initializer)
  (shorthand_field_initializer)
  (base_field_initializer)
  (line_comment)
  (block_comment)
] @block

[
  (source_file)
  (block)
  (declaration_list)
  (field_declaration_list)
  (enum_variant_list)
  (match_block)
  (field_initializer_list)
] @container

[
  (string_literal)
  (raw_string_literal)
  (char_literal)
  (line_comment)
  (block_comment)
] @atomic

(attribute_item) @attach
(line_comment outer: (_)) @attach
(block_comment outer: (_)) @attach

; What *Apply to every function* rewrites, one by one.
[(function_item)] @function
