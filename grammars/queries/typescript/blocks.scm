; TypeScript's additions to ecmascript/blocks.scm (for TypeScript and TSX alike).

[
  (interface_declaration)
  (type_alias_declaration)
  (enum_declaration)
  (abstract_class_declaration)
  (ambient_declaration)
  (function_signature)
  (internal_module)
  (module)
  (import_alias)
  (public_field_definition)
  (abstract_method_signature)
  (method_signature)
  (property_signature)
  (index_signature)
  (call_signature)
  (construct_signature)
  (enum_assignment)
  (decorator)
] @block

[
  (interface_body)
  (object_type)
  (enum_body)
] @container

; A member's decorators are its siblings in the class body.
(class_body (decorator) @attach)

((comment) @attach
  .
  [
    (interface_declaration)
    (type_alias_declaration)
    (enum_declaration)
    (abstract_class_declaration)
    (public_field_definition)
    (method_signature)
    (property_signature)
  ]
  (#match? @attach "^/[*][*]"))
