; C++'s additions to c/blocks.scm.

[
  (namespace_definition)
  (template_declaration)
  (alias_declaration)
  (using_declaration)
  (namespace_alias_definition)
  (concept_definition)
  (static_assert_declaration)
  (friend_declaration)
  (access_specifier)
  (for_range_loop)
  (try_statement)
  (catch_clause)
  (throw_statement)
  (co_return_statement)
  (co_yield_statement)
] @block

(raw_string_literal) @atomic

((comment)+ @attach
  .
  [
    (namespace_definition)
    (template_declaration)
    (alias_declaration)
    (concept_definition)
  ])
