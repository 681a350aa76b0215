package cli

import (
	"fmt"
	"io"
)

// LostPrinter returns a loss callback for maps.ConsumeEvents that reports
// lost events on w as bcc does.
func LostPrinter(w io.Writer) func(n uint64) {
	return func(n uint64) { fmt.Fprintf(w, "Possibly lost %d samples\n", n) }
}
