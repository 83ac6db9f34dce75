; TypeScript's additions to ecmascript/order.scm.

(interface_declaration name: (type_identifier) @definition)
(type_alias_declaration name: (type_identifier) @definition)
(enum_declaration name: (identifier) @definition)
(abstract_class_declaration name: (type_identifier) @definition)
(function_signature name: (identifier) @definition)
(internal_module name: (identifier) @definition)

(required_parameter pattern: (identifier) @ignore)
(optional_parameter pattern: (identifier) @ignore)

(type_identifier) @reference
