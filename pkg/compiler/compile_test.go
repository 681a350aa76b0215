package compiler

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// probe turns an argdist specifier into a Probe: one value per expression,
// typed as declared.
func probe(t testing.TB, text string, action Action) Probe {
	t.Helper()
	s, err := probespec.ParseSpec(text)
	if err != nil {
		t.Fatalf("ParseSpec(%q): %v", text, err)
	}
	p := Probe{Point: s.Probe, Text: s.Text, Filter: s.Filter, Action: action}
	for i := range s.Exprs {
		p.Values = append(p.Values, Value{Expr: s.Exprs[i], Type: &s.Types[i]})
	}
	return p
}

// load loads every program and map of coll, and closes them.
func load(coll *Collection) error {
	c, err := ebpf.NewCollection(coll.Spec)
	if err != nil {
		return err
	}
	c.Close()
	return nil
}

// funcs is the target of uprobes whose programs are only loaded.
func funcs(t testing.TB) string {
	path, err := filepath.Abs("testdata/funcs")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// constructs are specifiers covering what the compiler generates; each must
// compile and load on every kernel with tracepoints and uprobes.
func constructs(exe string) []struct {
	spec   string
	action Action
} {
	w := "t:syscalls:sys_enter_write():"
	type c = struct {
		spec   string
		action Action
	}
	return []c{
		{w + "u64:args->count", Count},
		{w + "u64:args->count", Log2},
		{w + "u8,s16,int,u32,long:args->count,args->fd,-args->fd,~args->count,!args->count", Count},
		{w + "u64:args->count + args->fd * 3 - 1", Log2},
		{w + "s64,s64,u64,u64:(s64)args->count / -3,(s64)args->count % -3,args->count / args->fd,args->count % args->fd", Count},
		{w + "int,int:(int)args->count / (int)args->fd,(short)args->count % (char)args->fd", Count},
		{w + "u64,int,u64:args->count << args->fd,(int)args->count >> 3,args->count & 0xff | 0x100 ^ args->fd", Count},
		{w + "int:args->count > 10 && args->fd < 5 || args->count == 0", Count},
		{w + "u64:args->count:args->count >= 10 && (args->fd != 1 || !(args->count & 1))", Count},
		{w + "u64:args->count:(int)args->fd < -1 || (s8)args->count <= 3 && args->count", Count},
		{w + "char*:args->buf", Count},
		{w + "char*,u32,u32,u32,u32,u32:$COMM,$PID,$TID,$UID,$GID,$CPU", Count},
		{w + "u64:args->count:STRCMP(\"bash\", $COMM)", Count},
		{w + "u64:args->count:$COMM != \"x\" && \"argdist\" == $COMM", Log2},
		{w + "u64:args->count:STRCMP(\"hello\", args->buf) || args->buf == \"x\"", Count},
		{w + "u8,u8,u8:args->buf[3],*args->buf,args->buf[args->count]", Count},
		{w + "int,char*:((struct task_struct *)args->buf)->pid,((struct task_struct *)args->buf)->comm", Count},
		{w + "u32,u64:((struct file *)args->buf)->f_path.dentry->d_name.len,(u64)&((struct task_struct *)args->buf)->comm[2]", Count},
		{w + "u32:((struct task_struct *)args->buf)->sched_reset_on_fork", Count},
		{w + "u64:((struct task_struct *)args->buf)->real_parent->real_parent->pid:((struct task_struct *)args->buf)->comm[0] == 'b'", Count},
		{w + "int,u16:args->common_pid,args->common_type", Count},
		{w + "void*,u64:args->buf,args->buf - (const char *)args->count", Count},
		{w + "u64:(u64)args->buf + 1:1", Count},
		{"t:sched:sched_process_exec():char*,int,u8:args->filename,args->pid,args->filename[1]:STRCMP(\"/bin/true\", args->filename)", Count},
		{"t:sched:sched_switch():char*,int,u64:args->prev_comm,args->prev_pid,args->prev_state:args->next_comm == \"swapper/0\"", Count},
		{"t:sched:sched_switch():u8:args->next_comm[args->prev_pid & 7]", Count},
		{"t:syscalls:sys_enter_openat():char*:args->filename:STRCMP(\"/etc/passwd\", args->filename)", Count},
		{"t:syscalls:sys_exit_write():long:args->ret", Log2},
		{w + "u64,char*,int:args->count,$COMM,args->fd:args->fd == 1", Emit},
		{"r:" + exe + ":pair_sum(int fd, char *s):u64,int,char*:$latency,$retval,$entry(s)", Emit},
		{"p:" + exe + ":pair_sum(struct timespec *ts, char *s):long,char*,u8:ts->tv_nsec,s,s[1]:ts->tv_sec > 2", Count},
		{"r:" + exe + ":pair_sum(int fd, char *s):u64,int,char*:$latency,$retval,$entry(s):$entry(fd) == 3", Count},
		{"r:" + exe + ":pair_sum(int fd):u64:$latency / 1000", Log2},
		{"r:" + exe + ":pair_sum():int:$retval", Count},
		{"p:" + exe + ":add6(int a, int b, int c, int d, int e, int f):int:a+b+c+d+e+f", Log2},
	}
}

func TestLoadConstructs(t *testing.T) {
	kerneltest.Root(t)
	for _, tt := range constructs(funcs(t)) {
		t.Run(tt.spec, func(t *testing.T) {
			p := probe(t, tt.spec, tt.action)
			for _, opts := range []Options{{}, {PID: os.Getpid(), TID: 1, StringSize: 300, KernelStacks: true, UserStacks: true}} {
				coll, err := Compile([]Probe{p}, opts)
				if err != nil {
					t.Fatalf("Compile: %v", err)
				}
				if err := load(coll); err != nil {
					t.Fatalf("load: %v\n%s", err, coll.Listing())
				}
			}
		})
	}
}
