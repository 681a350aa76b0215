package cli

import (
	"fmt"
	"io"

	"github.com/bpfscope/bpfscope/pkg/loader"
)

// ReportBackend prints what -v says about an opened object on w: each
// backend passed over and why, then the one in use and, for tools with an
// event stream, whether events travel through the ring or the perf buffer.
func ReportBackend(w io.Writer, obj *loader.Object, events bool) {
	for _, a := range obj.Attempts {
		fmt.Fprintf(w, "backend %s passed over: %v\n", a.Backend, a.Err)
	}
	if !events {
		fmt.Fprintf(w, "backend %s\n", obj.Backend)
		return
	}
	buffer := "perf buffer"
	if obj.RingBuf {
		buffer = "ring buffer"
	}
	fmt.Fprintf(w, "backend %s, events through the %s\n", obj.Backend, buffer)
}
