// Package uprobe puts uprobes and uretprobes into user-space binaries, as
// bcc's attach_uprobe does.
//
// A target is what a user writes for the binary: a path, a library name
// found the way the dynamic linker finds it ("c" for libc.so.6: the
// process's loaded libraries with -p, LD_LIBRARY_PATH, /etc/ld.so.cache,
// the default directories), an executable in PATH, or a process's own
// executable; with a PID, paths are those of the process's mount namespace,
// opened through /proc/PID/root. Symbols are looked up in .symtab and
// .dynsym (PIE or not, versioned names such as memcpy@@GLIBC_2.14) and
// turned into the file offsets the kernel wants. Links go to a
// loader.Object, whose Close detaches them.
//
//	obj, err := loader.Open(plan, opts)
//	...
//	_, err = uprobe.Attach(obj, obj.Program("count_malloc"), uprobe.Probe{Target: "c", Symbol: "malloc", PID: pid})
//
// ELF files are read within limits (see File): a truncated or hostile file
// gives an error, never a crash or an allocation sized by a header.
package uprobe
