// Command mkinitramfs writes a (gzip'd) newc cpio archive of a directory tree
// for use as a Linux initramfs. Used by scripts/vmtest/run.sh.
//
//	mkinitramfs -o out.cpio.gz [-console] [-level N] DIR
//
// Entries are written with uid/gid 0 and a fixed mtime so the archive does
// not depend on who builds it; -console adds a /dev/console character device
// (5,1) so that the kernel can open the console for init without the builder
// needing the privilege to mknod. Several such archives may be concatenated:
// the kernel unpacks them one after another.
package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const (
	modeDir  = 0o040000
	modeReg  = 0o100000
	modeLink = 0o120000
	modeChr  = 0o020000
)

type writer struct {
	w    io.Writer
	off  int64
	ino  uint32
	dirs map[string]bool
}

func (w *writer) write(b []byte) error {
	n, err := w.w.Write(b)
	w.off += int64(n)
	return err
}

func (w *writer) pad() error {
	if r := w.off % 4; r != 0 {
		return w.write(make([]byte, 4-r))
	}
	return nil
}

// entry writes one newc header, the name and size bytes of data from r.
func (w *writer) entry(name string, mode uint32, size int64, rdevMajor, rdevMinor uint32, r io.Reader) error {
	w.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		w.ino, mode, 0, 0, 1, 0, size, 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	if err := w.write([]byte(hdr)); err != nil {
		return err
	}
	if err := w.write(append([]byte(name), 0)); err != nil {
		return err
	}
	if err := w.pad(); err != nil {
		return err
	}
	if size > 0 {
		n, err := io.Copy(w.w, r)
		w.off += n
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("%s: size changed while archiving", name)
		}
	}
	return w.pad()
}

// parents writes directory entries for the parents of name not yet written.
func (w *writer) parents(name string) error {
	dir := filepath.Dir(name)
	if dir == "." || dir == "/" || w.dirs[dir] {
		return nil
	}
	if err := w.parents(dir); err != nil {
		return err
	}
	w.dirs[dir] = true
	return w.entry(dir, modeDir|0o755, 0, 0, 0, nil)
}

func (w *writer) addTree(root string) error {
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if err := w.parents(name); err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		perm := uint32(fi.Mode().Perm())
		switch {
		case fi.IsDir():
			if w.dirs[name] {
				continue
			}
			w.dirs[name] = true
			err = w.entry(name, modeDir|perm, 0, 0, 0, nil)
		case fi.Mode()&fs.ModeSymlink != 0:
			var target string
			target, err = os.Readlink(p)
			if err == nil {
				err = w.entry(name, modeLink|0o777, int64(len(target)), 0, 0, strings.NewReader(target))
			}
		case fi.Mode().IsRegular():
			var f *os.File
			f, err = os.Open(p)
			if err == nil {
				err = w.entry(name, modeReg|perm, fi.Size(), 0, 0, f)
				f.Close()
			}
		default:
			fmt.Fprintf(os.Stderr, "mkinitramfs: skipping %s (%s)\n", p, fi.Mode().Type())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func main() {
	out := flag.String("o", "", "output `file`")
	console := flag.Bool("console", false, "add a /dev/console character device")
	level := flag.Int("level", gzip.BestSpeed, "gzip `level` (0: no compression, plain cpio)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: mkinitramfs -o FILE [-console] [-level N] DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, flag.Arg(0), *console, *level); err != nil {
		fmt.Fprintln(os.Stderr, "mkinitramfs:", err)
		os.Exit(1)
	}
}

func run(out, root string, console bool, level int) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(out)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	var dst io.Writer = bw
	var zw *gzip.Writer
	if level != 0 {
		zw, err = gzip.NewWriterLevel(bw, level)
		if err != nil {
			return err
		}
		dst = zw
	}
	w := &writer{w: dst, dirs: map[string]bool{}}
	if console {
		if err := w.parents("dev/console"); err != nil {
			return err
		}
		if err := w.entry("dev/console", modeChr|0o600, 0, 5, 1, nil); err != nil {
			return err
		}
	}
	if err := w.addTree(root); err != nil {
		return err
	}
	if err := w.entry("TRAILER!!!", 0, 0, 0, 0, nil); err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	return bw.Flush()
}
