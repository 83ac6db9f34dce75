; Names for the decode order (grammars/src/order.rs); see rust/order.scm for the captures.

(class_declaration name: (identifier) @definition)
(interface_declaration name: (identifier) @definition)
(enum_declaration name: (identifier) @definition)
(record_declaration name: (identifier) @definition)
(annotation_type_declaration name: (identifier) @definition)
(method_declaration name: (identifier) @definition)
(field_declaration declarator: (variable_declarator name: (identifier) @definition))
(constant_declaration declarator: (variable_declarator name: (identifier) @definition))
(enum_constant name: (identifier) @definition)
(local_variable_declaration declarator: (variable_declarator name: (identifier) @definition.pattern))
(enhanced_for_statement name: (identifier) @definition.pattern)

(constructor_declaration name: (identifier) @ignore)
(formal_parameter name: (identifier) @ignore)
(spread_parameter (variable_declarator name: (identifier) @ignore))
(catch_formal_parameter name: (identifier) @ignore)
(inferred_parameters (identifier) @ignore)
(lambda_expression parameters: (identifier) @ignore)

(identifier) @reference
(type_identifier) @reference

[(block) (constructor_body) (lambda_expression)] @scope
(identifier) @pattern.name
