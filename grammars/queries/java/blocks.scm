; What the planner may take whole and cut at; see rust/blocks.scm for the captures.

[
  (package_declaration)
  (import_declaration)
  (class_declaration)
  (interface_declaration)
  (enum_declaration)
  (record_declaration)
  (annotation_type_declaration)
  (annotation_type_element_declaration)
  (method_declaration)
  (constructor_declaration)
  (compact_constructor_declaration)
  (field_declaration)
  (constant_declaration)
  (static_initializer)
  (enum_constant)
  (local_variable_declaration)
  (explicit_constructor_invocation)
  (expression_statement)
  (if_statement)
  (for_statement)
  (enhanced_for_statement)
  (while_statement)
  (do_statement)
  (try_statement)
  (try_with_resources_statement)
  (catch_clause)
  (finally_clause)
  (switch_expression)
  (switch_block_statement_group)
  (switch_rule)
  (return_statement)
  (throw_statement)
  (break_statement)
  (continue_statement)
  (yield_statement)
  (assert_statement)
  (synchronized_statement)
  (labeled_statement)
  (line_comment)
  (block_comment)
] @block

[
  (program)
  (block)
  (constructor_body)
  (class_body)
  (interface_body)
  (enum_body)
  (enum_body_declarations)
  (annotation_type_body)
  (switch_block)
] @container

[
  (string_literal)
  (character_literal)
  (line_comment)
  (block_comment)
] @atomic

; Javadoc belongs to what it documents (annotations are inside the declaration already).
((block_comment) @attach
  .
  [
    (class_declaration)
    (interface_declaration)
    (enum_declaration)
    (record_declaration)
    (annotation_type_declaration)
    (method_declaration)
    (constructor_declaration)
    (field_declaration)
    (constant_declaration)
    (enum_constant)
  ]
  (#match? @attach "^/[*][*]"))

; What *Apply to every function* rewrites, one by one.
[(method_declaration) (constructor_declaration)] @function
