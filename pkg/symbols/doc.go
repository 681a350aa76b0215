// Package symbols turns code addresses into symbol strings the way bcc's
// BPF.sym and BPF.ksym print them: "schedule+0x10 [kernel]",
// "clock_nanosleep+0x5 [libc.so.6]", "[unknown] [sleep]", "[unknown]".
//
// Kernel addresses are looked up in /proc/kallsyms, read once by Kernel;
// user addresses in the ELF symbol tables (.symtab and .dynsym, or the
// .gopclntab of a stripped Go program) of the files a process has mapped,
// found through its /proc/PID/maps (Process): address - mapping start +
// mapping offset is the file offset, which the file's PT_LOAD program
// headers turn into the address the symbols give. PIE and non-PIE
// executables, shared libraries, files deleted since they were mapped
// (read through /proc/PID/map_files) and the vDSO are handled; a file that
// cannot be read still names the module ("[unknown] [app]"). Each file is
// parsed once, on first use, and shared by all processes that map it. A
// lookup is a binary search and allocates nothing.
//
//	ks, err := symbols.Kernel()
//	...
//	sym, _ := ks.Resolve(addr)
//	fmt.Println(symbols.Format(sym, true, true)) // schedule+0x10 [kernel]
//
//	proc, err := symbols.Process(pid) // errors.Is(err, symbols.ErrNoProcess) once it has exited
//	...
//	sym, _ = proc.Resolve(addr)
//	fmt.Println(symbols.Format(sym, true, true)) // main+0x1a [bash]
//
// Names are not demangled.
package symbols
