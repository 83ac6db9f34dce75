; Names for the decode order (grammars/src/order.rs); see rust/order.scm for the captures.

(function_declaration name: (identifier) @definition)
; A method is visible wherever its type is: `s.helper()` links to `func (s *S) helper()`.
(method_declaration name: (field_identifier) @definition)
(type_spec name: (type_identifier) @definition)
(type_alias name: (type_identifier) @definition)
(import_spec name: (package_identifier) @definition)
(const_spec name: (identifier) @definition.pattern)
(var_spec name: (identifier) @definition.pattern)
(short_var_declaration left: (expression_list) @definition.pattern)
(range_clause left: (expression_list) @definition.pattern)

(parameter_declaration name: (identifier) @ignore)
(variadic_parameter_declaration name: (identifier) @ignore)
(keyed_element key: (literal_element (identifier) @ignore))

(identifier) @reference
(type_identifier) @reference
(selector_expression field: (field_identifier) @reference)

[(block) (func_literal)] @scope
(identifier) @pattern.name
[(selector_expression) (index_expression)] @pattern.skip
