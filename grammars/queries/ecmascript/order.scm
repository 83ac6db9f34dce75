; Names for the decode order (grammars/src/order.rs): a block that defines a name is decoded
; before the blocks that use it. See rust/order.scm for the captures. Shared by JavaScript and
; TypeScript, as ecmascript/blocks.scm is.

(function_declaration name: (identifier) @definition)
(generator_function_declaration name: (identifier) @definition)
(class_declaration name: (_) @definition)
; A method is visible wherever its class is: `this.helper()` links to `helper() {…}`.
(method_definition name: (property_identifier) @definition)
(variable_declarator name: (_) @definition.pattern)
(for_in_statement left: (_) @definition.pattern)
(import_specifier alias: (identifier) @definition)
(import_specifier !alias name: (identifier) @definition)
(import_clause (identifier) @definition)
(namespace_import (identifier) @definition)

(arrow_function parameter: (identifier) @ignore)
(catch_clause parameter: (identifier) @ignore)

(identifier) @reference
(member_expression property: (property_identifier) @reference)

; `let` and `const` are block-scoped; a `var` leaks further, which this ignores.
[(statement_block) (arrow_function) (class_body)] @scope
[(identifier) (shorthand_property_identifier_pattern)] @pattern.name
[(member_expression) (subscript_expression)] @pattern.skip
