package cli

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// CheckCgroup returns a UsageError unless path is a directory of the cgroup
// v2 hierarchy, as libbpf-tools' -c CGROUP_PATH wants.
func CheckCgroup(path string) error {
	if path == "" {
		return Usagef("cgroup path is empty: want a cgroup v2 directory such as /sys/fs/cgroup/system.slice")
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return Usagef("cgroup %s: no such directory (cgroup v2 directories are under the cgroup2 mount, see: mount -t cgroup2)", path)
	case err != nil:
		return Usagef("cgroup %s: %v", path, err)
	case !st.IsDir():
		return Usagef("cgroup %s: not a directory (want a cgroup v2 directory)", path)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return Usagef("cgroup %s: %v", path, err)
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return Usagef("cgroup %s: not in a cgroup v2 hierarchy (see: mount -t cgroup2)", path)
	}
	return nil
}
