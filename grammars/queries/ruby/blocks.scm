; What the planner may take whole and cut at; see rust/blocks.scm for the captures.
; Statements need no list: every body below is a container, so whatever stands in one is a
; block.

[
  (method)
  (singleton_method)
  (class)
  (module)
  (singleton_class)
  (if)
  (unless)
  (while)
  (until)
  (for)
  (case)
  (case_match)
  (begin)
  (when)
  (in_clause)
  (elsif)
  (else)
  (rescue)
  (ensure)
  (pair)
  (comment)
] @block

[
  (program)
  (body_statement)
  (block_body)
  (then)
  (else)
  (do)
  (begin)
  (ensure)
  (parenthesized_statements)
  (hash)
] @container

[
  (string)
  (heredoc_body)
  (regex)
  (delimited_symbol)
  (subshell)
  (comment)
] @atomic

; The comment lines right above a definition document it.
((comment)+ @attach
  .
  [
    (method)
    (singleton_method)
    (class)
    (module)
  ])

; What *Apply to every function* rewrites, one by one.
[(method) (singleton_method)] @function
