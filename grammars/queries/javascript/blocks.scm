; JavaScript's additions to ecmascript/blocks.scm.

(using_declaration) @block
