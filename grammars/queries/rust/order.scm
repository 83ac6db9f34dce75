; Names for the decode order (grammars/src/order.rs): a block that defines a name is decoded
; before the blocks that use it.
;   @definition          a name node bound by an item
;   @definition.pattern  a pattern whose identifiers are all bound (let)
;   @reference           a name node that may use a definition
;   @ignore              a name node that is neither (parameters, field names)
;   @scope               a node whose pattern bindings are visible only inside it
;   @pattern.name        inside a definition pattern, a kind that binds a name
;   @pattern.skip        inside a definition pattern, a subtree that binds nothing

(function_item name: (identifier) @definition)
(function_signature_item name: (identifier) @definition)
(struct_item name: (type_identifier) @definition)
(enum_item name: (type_identifier) @definition)
(union_item name: (type_identifier) @definition)
(trait_item name: (type_identifier) @definition)
(type_item name: (type_identifier) @definition)
(const_item name: (identifier) @definition)
(static_item name: (identifier) @definition)
(mod_item name: (identifier) @definition)
(macro_definition name: (identifier) @definition)
(let_declaration pattern: (_) @definition.pattern)

(parameter pattern: (_) @ignore)
(field_declaration name: (field_identifier) @ignore)
; `String::new` says nothing about a `new` defined here; its path (`String`) is what links.
(scoped_identifier path: [(identifier) (scoped_identifier)] name: (identifier) @ignore)

(identifier) @reference
(type_identifier) @reference
(field_identifier) @reference

[(block) (closure_expression)] @scope
[(identifier) (shorthand_field_identifier)] @pattern.name
[(scoped_identifier) (scoped_type_identifier)] @pattern.skip
