; What the planner may take whole and cut at; see rust/blocks.scm for the captures.

[
  (function_definition)
  (command)
  (pipeline)
  (list)
  (redirected_statement)
  (variable_assignment)
  (declaration_command)
  (unset_command)
  (test_command)
  (negated_command)
  (if_statement)
  (elif_clause)
  (else_clause)
  (while_statement)
  (for_statement)
  (c_style_for_statement)
  (case_statement)
  (case_item)
  (subshell)
  (compound_statement)
  (comment)
] @block

[
  (program)
  (compound_statement)
  (do_group)
  (if_statement)
  (elif_clause)
  (else_clause)
  (case_item)
  (subshell)
] @container

[
  (string)
  (raw_string)
  (ansi_c_string)
  (translated_string)
  (heredoc_body)
  (comment)
] @atomic

; The comment lines right above a function document it.
((comment)+ @attach . (function_definition))

; What *Apply to every function* rewrites, one by one.
[(function_definition)] @function
