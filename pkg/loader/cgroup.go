package loader

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// SetCgroup puts the cgroup v2 directory path at index 0 of the object's
// BPF_MAP_TYPE_CGROUP_ARRAY mapName, for programs filtering with
// bpf_current_task_under_cgroup (libbpf-tools' cgroup_map). The map keeps
// its own reference to the cgroup.
func (o *Object) SetCgroup(mapName, path string) error {
	m := o.Map(mapName)
	if m == nil {
		return fmt.Errorf("cgroup map %s: not in object", mapName)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("open cgroup: %w", err)
	}
	defer f.Close()
	if err := m.Put(uint32(0), uint32(f.Fd())); err != nil {
		return fmt.Errorf("cgroup %s: %w", path, err)
	}
	return nil
}
