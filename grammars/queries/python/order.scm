; Names for the decode order (grammars/src/order.rs): a block that defines a name is decoded
; before the blocks that use it.
;   @definition          a name node bound by a statement
;   @definition.pattern  an assignment target whose identifiers are bound
;   @reference           a name node that may use a definition
;   @ignore              a name node that is neither (parameters, keyword arguments)
;   @scope               a node whose assignments are visible only inside it
;   @pattern.name        inside a definition pattern, a kind that binds a name
;   @pattern.skip        inside a definition pattern, a subtree that binds nothing

(function_definition name: (identifier) @definition)
(class_definition name: (identifier) @definition)
(assignment left: (_) @definition.pattern)
(for_statement left: (_) @definition.pattern)
(import_statement name: (dotted_name . (identifier) @definition))
(import_statement name: (aliased_import alias: (identifier) @definition))
(import_from_statement name: (dotted_name (identifier) @definition .))
(import_from_statement name: (aliased_import alias: (identifier) @definition))

(parameters (identifier) @ignore)
(default_parameter name: (identifier) @ignore)
(typed_parameter (identifier) @ignore)
(typed_default_parameter name: (identifier) @ignore)
(keyword_argument name: (identifier) @ignore)

(identifier) @reference

[(function_definition) (lambda) (class_definition)] @scope
(identifier) @pattern.name
; `self.x = …` binds no `x`, `a[i] = …` no `i`.
[(attribute) (subscript)] @pattern.skip
