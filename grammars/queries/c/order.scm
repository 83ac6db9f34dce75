; Names for the decode order (grammars/src/order.rs); see rust/order.scm for the captures.
; C++'s queries add to these.

(function_definition declarator: (function_declarator declarator: (identifier) @definition))
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @definition)))
(declaration declarator: (function_declarator declarator: (identifier) @definition))
(type_definition declarator: (type_identifier) @definition)
(struct_specifier name: (type_identifier) @definition body: (_))
(union_specifier name: (type_identifier) @definition body: (_))
(enum_specifier name: (type_identifier) @definition body: (_))
(enumerator name: (identifier) @definition)
(preproc_def name: (identifier) @definition)
(preproc_function_def name: (identifier) @definition)

; Variables: the declared name, not the initializer's or an array size's names.
(declaration declarator: (identifier) @definition.pattern)
(declaration declarator: (pointer_declarator declarator: (identifier) @definition.pattern))
(declaration declarator: (array_declarator declarator: (identifier) @definition.pattern))
(init_declarator declarator: (identifier) @definition.pattern)
(init_declarator declarator: (pointer_declarator declarator: (identifier) @definition.pattern))
(init_declarator declarator: (array_declarator declarator: (identifier) @definition.pattern))

(parameter_declaration declarator: (identifier) @ignore)
(parameter_declaration declarator: (pointer_declarator declarator: (identifier) @ignore))
(preproc_params (identifier) @ignore)

(identifier) @reference
(type_identifier) @reference

(compound_statement) @scope
(identifier) @pattern.name
