package probespec

import (
	"fmt"
	"unicode/utf8"
)

// Error is a problem at a place in a specifier: its column and what was
// expected there, or which names exist where an unknown one was used.
type Error struct {
	// Text is the text that was parsed, usually the whole specifier.
	Text string
	// Pos is the byte offset of the problem in Text.
	Pos int
	// Msg says what is wrong, e.g. `expected ')' after the signature`.
	Msg string
}

// Errorf returns an *Error at byte offset pos of text. pkg/compiler uses it
// for type errors, so that they point into the specifier too.
func Errorf(text string, pos int, format string, args ...any) *Error {
	return &Error{Text: text, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Column returns the 1-based column of the problem, in characters.
func (e *Error) Column() int {
	pos := min(max(e.Pos, 0), len(e.Text))
	return utf8.RuneCountInString(e.Text[:pos]) + 1
}

func (e *Error) Error() string {
	return fmt.Sprintf("column %d: %s", e.Column(), e.Msg)
}
