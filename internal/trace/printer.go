package trace

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/cilium/ebpf"

	"github.com/bpfscope/bpfscope/pkg/compiler"
	"github.com/bpfscope/bpfscope/pkg/maps"
)

// printer turns event records into bcc trace's lines.
type printer struct {
	cfg    Config
	probes []*probe
	out    *output
	stacks *ebpf.Map
	syms   *symbolizer
	start  uint64 // monotonic ns at start, for -t
	// startReal is the wall clock at start, for -t -u.
	startReal float64
	events    int
	line      []byte
	// prefix is the PID to FUNC columns of the last event, whose
	// pid_tgid and comm are in prefixKey, of probe prefixProbe.
	prefix      []byte
	prefixKey   [24]byte
	prefixProbe uint32
	args        []arg
	frames      []uint64
}

func newPrinter(cfg Config, probes []*probe, out *output, stacks *ebpf.Map) *printer {
	now := wallClock()
	return &printer{
		cfg: cfg, probes: probes, out: out, stacks: stacks, syms: newSymbolizer(),
		start: monotonicNow(), startReal: float64(now.UnixNano()) / 1e9,
		line: make([]byte, 0, 512), prefixProbe: ^uint32(0),
	}
}

// trivial reports whether no probe has a format: bcc then prints no "-"
// column heading.
func (p *printer) trivial() bool {
	for _, pr := range p.probes {
		if pr.spec.HasFormat {
			return false
		}
	}
	return true
}

func (p *printer) header() {
	b := p.line[:0]
	if p.cfg.Timestamp || p.cfg.Time {
		w := 8
		if p.cfg.UnixTimestamp {
			w = 17
		}
		b = pad(b, "TIME", w)
		b = append(b, ' ')
	}
	if p.cfg.CPU {
		b = append(b, "CPU "...)
	}
	b = fmt.Appendf(b, "%-7s %-7s %-15s %-16s ", "PID", "TID", "COMM", "FUNC")
	if !p.trivial() {
		b = append(b, '-')
	}
	b = append(b, '\n')
	p.out.write(b)
}

// event prints one record.
func (p *printer) event(rec []byte) error {
	if len(rec) < compiler.EventHeaderSize {
		return fmt.Errorf("short event: %d bytes", len(rec))
	}
	idx := le.Uint32(rec[hdrProbe:])
	if int(idx) >= len(p.probes) {
		return fmt.Errorf("event of unknown probe %d", idx)
	}
	pr := p.probes[idx]
	if len(rec) < pr.cp.Key.Size {
		return fmt.Errorf("short event of probe %d: %d bytes, want %d", idx, len(rec), pr.cp.Key.Size)
	}
	comm := cstring(rec[hdrComm : hdrComm+16])
	if p.cfg.Name != "" && !bytes.Contains(comm, []byte(p.cfg.Name)) {
		return nil
	}
	pidTgid := le.Uint64(rec[hdrPid:])
	tgid, tid := uint32(pidTgid>>32), uint32(pidTgid)

	// The message first: -f filters on it.
	p.args = p.args[:0]
	for _, f := range pr.cp.Key.Fields {
		var a arg
		if f.Kind == compiler.String {
			a.str = cstring(rec[f.Offset : f.Offset+f.Size])
		} else {
			switch f.Size {
			case 1:
				a.u = uint64(rec[f.Offset])
			case 2:
				a.u = uint64(le.Uint16(rec[f.Offset:]))
			case 4:
				a.u = uint64(le.Uint32(rec[f.Offset:]))
			default:
				a.u = le.Uint64(rec[f.Offset:])
			}
		}
		p.args = append(p.args, a)
	}
	b := p.line[:0]
	if p.cfg.Timestamp || p.cfg.Time {
		b = p.timeColumn(b, le.Uint64(rec[hdrTime:]))
	}
	if p.cfg.CPU {
		b = pad(b, strconv.Itoa(int(le.Uint32(rec[hdrCPU:]))), 3)
		b = append(b, ' ')
	}
	// PID TID COMM FUNC: the same for every event of a thread at a
	// probe, so kept from the last event.
	if key := rec[hdrPid : hdrPid+8]; idx != p.prefixProbe || !bytes.Equal(key, p.prefixKey[:8]) || !bytes.Equal(rec[hdrComm:hdrComm+16], p.prefixKey[8:]) {
		copy(p.prefixKey[:8], key)
		copy(p.prefixKey[8:], rec[hdrComm:hdrComm+16])
		p.prefixProbe = idx
		pb := p.prefix[:0]
		pb = padInt(pb, uint64(tgid), 7)
		pb = append(pb, ' ')
		pb = padInt(pb, uint64(tid), 7)
		pb = append(pb, ' ')
		pb = padBytes(pb, comm, 15)
		pb = append(pb, ' ')
		pb = pad(pb, pr.fn, 16)
		p.prefix = append(pb, ' ')
	}
	b = append(b, p.prefix...)
	msgStart := len(b)
	b = pr.fmt.render(b, p.args, func(addr uint64, user bool) string {
		if user {
			return p.syms.user(tgid, addr)
		}
		return p.syms.kernel(addr)
	})
	if p.cfg.MsgFilter != "" && !bytes.Contains(b[msgStart:], []byte(p.cfg.MsgFilter)) {
		return nil
	}
	b = append(b, '\n')
	if p.cfg.KernelStack {
		b = p.stack(b, int64(le.Uint64(rec[hdrKStack:])), 0)
	}
	if p.cfg.UserStack {
		b = p.stack(b, int64(le.Uint64(rec[hdrUStack:])), tgid)
	}
	if p.cfg.KernelStack || p.cfg.UserStack {
		b = append(b, '\n')
	}
	p.line = b
	if err := p.out.write(b); err != nil {
		return err
	}
	p.events++
	if p.cfg.MaxEvents > 0 && p.events >= p.cfg.MaxEvents {
		return errMaxEvents
	}
	return nil
}

// timeColumn appends bcc's TIME column: seconds since the start (-t), or
// since the epoch (-t -u), or the wall clock (-T).
func (p *printer) timeColumn(b []byte, ts uint64) []byte {
	var s string
	w := 8
	switch {
	case p.cfg.Timestamp:
		off := (float64(ts) - float64(p.start)) / 1e9
		if p.cfg.UnixTimestamp {
			off += p.startReal
			w = 17
		}
		s = strconv.FormatFloat(off, 'f', 6, 64)
	default:
		s = wallClock().Format("15:04:05")
	}
	if len(s) > w {
		s = s[:w]
	}
	b = pad(b, s, w)
	return append(b, ' ')
}

// stack appends the frames of a stack as bcc does: eight spaces, the
// address with -a, the symbol with offset and module.
func (p *printer) stack(b []byte, id int64, tgid uint32) []byte {
	if id < 0 {
		return fmt.Appendf(b, "        %d\n", id)
	}
	frames, err := maps.ReadStack(p.stacks, uint32(id), p.frames)
	if err != nil {
		return fmt.Appendf(b, "        [stack %d: %v]\n", id, err)
	}
	p.frames = frames
	for _, pc := range frames {
		b = append(b, "        "...)
		if p.cfg.Address {
			b = fmt.Appendf(b, "%16x ", pc)
		}
		if tgid == 0 {
			b = append(b, p.syms.kernelModule(pc)...)
		} else {
			b = append(b, p.syms.user(tgid, pc)...)
		}
		b = append(b, '\n')
	}
	return b
}

func cstring(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

const spaces = "                                "

// pad appends s left-aligned in w columns (Python's %-Ws).
func pad(b []byte, s string, w int) []byte {
	b = append(b, s...)
	if n := w - len(s); n > 0 {
		b = append(b, spaces[:min(n, len(spaces))]...)
	}
	return b
}

func padBytes(b, s []byte, w int) []byte {
	b = append(b, s...)
	if n := w - len(s); n > 0 {
		b = append(b, spaces[:min(n, len(spaces))]...)
	}
	return b
}

func padInt(b []byte, v uint64, w int) []byte {
	n := len(b)
	b = strconv.AppendUint(b, v, 10)
	if k := w - (len(b) - n); k > 0 {
		b = append(b, spaces[:min(k, len(spaces))]...)
	}
	return b
}
