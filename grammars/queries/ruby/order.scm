; Names for the decode order (grammars/src/order.rs); see rust/order.scm for the captures.

(method name: (_) @definition)
(singleton_method name: (_) @definition)
(class name: (constant) @definition)
(module name: (constant) @definition)
(assignment left: (constant) @definition)
; An instance variable set in one method (`initialize`) is used by the others.
(assignment left: (instance_variable) @definition)
(assignment left: [(identifier) (left_assignment_list)] @definition.pattern)
(for pattern: (_) @definition.pattern)

(method_parameters (identifier) @ignore)
(lambda_parameters (identifier) @ignore)
(block_parameters (identifier) @ignore)
(optional_parameter name: (identifier) @ignore)
(keyword_parameter name: (identifier) @ignore)

(identifier) @reference
(constant) @reference
(instance_variable) @reference

[(method) (singleton_method) (class) (module) (block) (do_block) (lambda)] @scope
(identifier) @pattern.name
[(call) (element_reference) (scope_resolution)] @pattern.skip
