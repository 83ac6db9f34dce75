; JavaScript's additions to ecmascript/order.scm. (TypeScript wraps parameters in
; `required_parameter`, see typescript/order.scm.)

(formal_parameters (identifier) @ignore)
(formal_parameters (assignment_pattern left: (identifier) @ignore))
