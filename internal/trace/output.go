package trace

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// flushInterval bounds how long a printed event waits in the buffer: lines
// are written in large batches at high rates and within this delay when
// events are rare.
const flushInterval = 50 * time.Millisecond

// output is stdout behind a large buffer that a ticker flushes.
type output struct {
	mu   sync.Mutex
	w    *bufio.Writer
	err  error
	done chan struct{}
	wg   sync.WaitGroup
}

func newOutput(w io.Writer) *output {
	o := &output{w: bufio.NewWriterSize(w, 256<<10), done: make(chan struct{})}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		t := time.NewTicker(flushInterval)
		defer t.Stop()
		for {
			select {
			case <-o.done:
				return
			case <-t.C:
				o.flush()
			}
		}
	}()
	return o
}

// write appends b; the first write error is kept and returned from then on.
func (o *output) write(b []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		_, o.err = o.w.Write(b)
	}
	return o.err
}

func (o *output) flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil && o.w.Buffered() > 0 {
		o.err = o.w.Flush()
	}
	return o.err
}

// stop ends the ticker; it does not flush.
func (o *output) stop() {
	select {
	case <-o.done:
	default:
		close(o.done)
	}
	o.wg.Wait()
}
