; Compact Lua highlights for the hook editor (tree-sitter-lua grammar).
; Capture names are the ones Textual's TextArea themes colour.

; Keywords
[
  "local" "function" "end" "do" "in" "goto"
  "while" "repeat" "until" "for"
] @keyword
[ "if" "then" "elseif" "else" ] @conditional
"return" @keyword.return
(break_statement) @keyword
[ "and" "or" "not" ] @keyword.operator

; Literals
(comment) @comment
(string) @string
(number) @number
[ (true) (false) ] @boolean
(nil) @constant.builtin
(vararg_expression) @constant.builtin

; Functions: declared, assigned in a table, called
(function_declaration
  name: [
    (identifier) @function
    (dot_index_expression field: (identifier) @function)
    (method_index_expression method: (identifier) @function)
  ])
(field
  name: (identifier) @function
  value: (function_definition))
(function_call
  name: [
    (identifier) @function.call
    (dot_index_expression field: (identifier) @function.call)
    (method_index_expression method: (identifier) @method.call)
  ])
(parameters (identifier) @parameter)

; The sandbox's host API tables
((identifier) @variable.builtin
  (#any-of? @variable.builtin "event" "log" "http" "json" "state" "self"))

; Operators and punctuation
(binary_expression operator: _ @operator)
(unary_expression operator: _ @operator)
"=" @operator
[ "(" ")" "[" "]" "{" "}" ] @punctuation.bracket
[ "," "." ":" ";" ] @punctuation.delimiter
