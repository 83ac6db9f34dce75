; Names for the decode order (grammars/src/order.rs); see rust/order.scm for the captures.
; Shell variables are global unless declared `local`, which this ignores.

(function_definition name: (word) @definition)
(variable_assignment name: (variable_name) @definition.pattern)
(for_statement variable: (variable_name) @definition.pattern)

(command_name (word) @reference)
(variable_name) @reference

(variable_name) @pattern.name
