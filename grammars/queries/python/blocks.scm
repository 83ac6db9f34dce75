; What the planner may take whole and cut at; see rust/blocks.scm for the captures.

[
  (function_definition)
  (class_definition)
  (decorated_definition)
  (elif_clause)
  (else_clause)
  (except_clause)
  (finally_clause)
  (case_clause)
  (comment)
  (expression_statement)
  (return_statement)
  (pass_statement)
  (break_statement)
  (continue_statement)
  (raise_statement)
  (assert_statement)
  (delete_statement)
  (global_statement)
  (nonlocal_statement)
  (import_statement)
  (import_from_statement)
  (future_import_statement)
  (type_alias_statement)
  (print_statement)
  (exec_statement)
  (if_statement)
  (for_statement)
  (while_statement)
  (try_statement)
  (with_statement)
  (match_statement)
] @block

[(module) (block)] @container

[(string) (comment)] @atomic

; A decorator list belongs with its function or class.
(decorated_definition) @wrapper

; What *Apply to every function* rewrites, one by one.
[(function_definition)] @function
