; C++'s additions to c/order.scm.

(class_specifier name: (type_identifier) @definition body: (_))
(namespace_definition name: (namespace_identifier) @definition)
(alias_declaration name: (type_identifier) @definition)
(concept_definition name: (identifier) @definition)
; Members: `obj.helper()` links to `void helper()` in the class, and `void S::helper() {…}`
; defines it too.
(function_definition declarator: (function_declarator declarator: (field_identifier) @definition))
(function_definition declarator: (function_declarator declarator: (qualified_identifier name: (identifier) @definition)))
(field_declaration declarator: (function_declarator declarator: (field_identifier) @definition))
(for_range_loop declarator: (identifier) @definition.pattern)
(for_range_loop declarator: (reference_declarator (identifier) @definition.pattern))

(parameter_declaration declarator: (reference_declarator (identifier) @ignore))
(optional_parameter_declaration declarator: (identifier) @ignore)

(namespace_identifier) @reference
(field_expression field: (field_identifier) @reference)

(lambda_expression) @scope
