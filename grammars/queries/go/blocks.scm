; What the planner may take whole and cut at; see rust/blocks.scm for the captures.

[
  (package_clause)
  (import_declaration)
  (import_spec)
  (function_declaration)
  (method_declaration)
  (type_declaration)
  (type_spec)
  (type_alias)
  (const_declaration)
  (const_spec)
  (var_declaration)
  (var_spec)
  (field_declaration)
  (method_elem)
  (expression_statement)
  (send_statement)
  (inc_statement)
  (dec_statement)
  (assignment_statement)
  (short_var_declaration)
  (return_statement)
  (go_statement)
  (defer_statement)
  (if_statement)
  (for_statement)
  (expression_switch_statement)
  (type_switch_statement)
  (select_statement)
  (expression_case)
  (type_case)
  (default_case)
  (communication_case)
  (labeled_statement)
  (fallthrough_statement)
  (break_statement)
  (continue_statement)
  (goto_statement)
  (empty_statement)
  (keyed_element)
  (comment)
] @block

[
  (source_file)
  (statement_list)
  (field_declaration_list)
  (interface_type)
  (import_spec_list)
  (var_spec_list)
  (literal_value)
] @container

[
  (interpreted_string_literal)
  (raw_string_literal)
  (rune_literal)
  (comment)
] @atomic

; Doc comments: the `//` lines right above a declaration.
((comment)+ @attach
  .
  [
    (function_declaration)
    (method_declaration)
    (type_declaration)
    (const_declaration)
    (var_declaration)
    (type_spec)
    (const_spec)
    (var_spec)
    (field_declaration)
    (method_elem)
  ])

; What *Apply to every function* rewrites, one by one.
[(function_declaration) (method_declaration)] @function
