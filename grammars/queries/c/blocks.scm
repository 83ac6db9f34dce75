; What the planner may take whole and cut at; see rust/blocks.scm for the captures.
; C++'s queries add to these (grammars/src/language.rs), so only kinds that both grammars have
; belong here.

[
  (function_definition)
  (declaration)
  (type_definition)
  (linkage_specification)
  (field_declaration)
  (enumerator)
  (preproc_include)
  (preproc_def)
  (preproc_function_def)
  (preproc_call)
  (preproc_if)
  (preproc_ifdef)
  (preproc_elif)
  (preproc_else)
  (expression_statement)
  (if_statement)
  (else_clause)
  (for_statement)
  (while_statement)
  (do_statement)
  (switch_statement)
  (case_statement)
  (return_statement)
  (break_statement)
  (continue_statement)
  (goto_statement)
  (labeled_statement)
  (attributed_statement)
  (comment)
] @block

[
  (translation_unit)
  (compound_statement)
  (declaration_list)
  (field_declaration_list)
  (enumerator_list)
  (initializer_list)
  (case_statement)
  (preproc_if)
  (preproc_ifdef)
  (preproc_elif)
  (preproc_else)
] @container

[
  (string_literal)
  (char_literal)
  (system_lib_string)
  (preproc_arg)
  (comment)
] @atomic

; The comment right above a definition documents it.
((comment)+ @attach
  .
  [
    (function_definition)
    (declaration)
    (type_definition)
    (field_declaration)
    (preproc_def)
    (preproc_function_def)
  ])

; What *Apply to every function* rewrites, one by one.
[(function_definition)] @function
