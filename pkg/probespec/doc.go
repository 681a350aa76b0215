// Package probespec parses bcc's probe specifiers and their expression
// language, without touching the kernel: the front end of pkg/compiler.
//
// An argdist specifier reads
//
//	{p,r,t,u}:{[library],category}:function(signature)[:type[,type...]:expr[,expr...][:filter]][#label]
//
// p and r probe a function's entry and return (a kernel function when the
// library is empty, else a function of the library or executable), t a
// kernel tracepoint (library is its category), u a USDT probe. The signature
// names and types the function's parameters as in its C declaration.
// [ParseSpec] parses a whole specifier; [ParseProbe], [ParseExpr] and
// [ParseType] parse its parts, for tools with other grammars (bcc's trace
// writes `p:c:write(int fd) (fd == 1) "%d", fd`).
//
// Expressions are the C subset bcc's tools accept: parameters by name,
// integer literals, 'c' character and "string" literals, unary - ~ ! * &,
// casts, * / % + - << >> < <= > >= == != & ^ | && ||, member access through
// pointers (a->b.c) and indexing, and the specials $retval, $latency,
// $entry(param), $PID, $TID, $UID, $GID, $CPU, $COMM. STRCMP("literal", expr)
// compares a string (bcc's argdist filter helper). args->field names a
// tracepoint field and argN a USDT argument.
//
// Every node records where it starts and ends in the text given to the
// parser, and every error is an *Error with the column of the problem and
// what was expected there.
package probespec
