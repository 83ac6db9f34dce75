; What the planner may take whole and cut at; see rust/blocks.scm for the captures.
; Shared by JavaScript and TypeScript, each adding its own folder's queries (see
; grammars/src/language.rs), so only kinds that both grammars have belong here.

[
  (import_statement)
  (export_statement)
  (function_declaration)
  (generator_function_declaration)
  (class_declaration)
  (lexical_declaration)
  (variable_declaration)
  (expression_statement)
  (if_statement)
  (else_clause)
  (for_statement)
  (for_in_statement)
  (while_statement)
  (do_statement)
  (try_statement)
  (catch_clause)
  (finally_clause)
  (switch_statement)
  (switch_case)
  (switch_default)
  (return_statement)
  (throw_statement)
  (break_statement)
  (continue_statement)
  (debugger_statement)
  (labeled_statement)
  (empty_statement)
  (with_statement)
  (method_definition)
  (class_static_block)
  (pair)
  (comment)
] @block

[
  (program)
  (statement_block)
  (class_body)
  (switch_body)
  (object)
] @container

[
  (string)
  (template_string)
  (regex)
  (comment)
] @atomic

; `export function f` is one item: its doc comment sits above `export`.
(export_statement) @wrapper

; A JSDoc comment belongs to what it documents.
((comment) @attach
  .
  [
    (function_declaration)
    (generator_function_declaration)
    (class_declaration)
    (lexical_declaration)
    (variable_declaration)
    (export_statement)
    (method_definition)
  ]
  (#match? @attach "^/[*][*]"))

; What *Apply to every function* rewrites, one by one.
[(function_declaration) (generator_function_declaration) (method_definition)] @function
