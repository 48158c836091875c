package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// checkLinux checks the linux section from inside: paths, sysctls, devices, propagation.
func checkLinux(t *tap, l *rspec.Linux) {
	for _, p := range l.MaskedPaths {
		checkMasked(t, p)
	}
	for _, p := range l.ReadonlyPaths {
		var st syscall.Statfs_t
		if err := syscall.Statfs(p, &st); err != nil {
			t.skip("readonly path "+p, "absent")
			continue
		}
		t.check(st.Flags&1 != 0, "readonly path "+p+" is read-only")
	}
	for key, value := range l.Sysctl {
		data, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		t.check(err == nil && strings.Join(strings.Fields(string(data)), " ") == value,
			"sysctl "+key+" is set", string(data))
	}
	checkDevices(t, l.Devices)
	checkPropagation(t, l.RootfsPropagation)
	if l.Seccomp != nil {
		t.check(statusField("Seccomp") == "2", "a seccomp filter is loaded", statusField("Seccomp"))
	}
	for _, ns := range l.Namespaces {
		if ns.Type == rspec.CgroupNamespace && ns.Path == "" {
			data, _ := os.ReadFile("/proc/self/cgroup")
			root := true
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				parts := strings.SplitN(line, ":", 3)
				root = root && len(parts) == 3 && parts[2] == "/"
			}
			t.check(root, "in a cgroup namespace every cgroup is /", string(data))
		}
	}
}

func checkMasked(t *tap, p string) {
	fi, err := os.Stat(p)
	if err != nil {
		t.skip("masked path "+p, "absent")
		return
	}
	if fi.IsDir() {
		entries, _ := os.ReadDir(p)
		t.check(len(entries) == 0, "masked dir "+p+" is empty", len(entries))
		return
	}
	data, err := os.ReadFile(p)
	t.check(err != nil || len(data) == 0, "masked file "+p+" reads nothing", len(data))
}

type devWant struct {
	path         string
	kind         uint32
	major, minor int64
}

var defaultDevices = []devWant{
	{"/dev/null", syscall.S_IFCHR, 1, 3}, {"/dev/zero", syscall.S_IFCHR, 1, 5},
	{"/dev/full", syscall.S_IFCHR, 1, 7}, {"/dev/random", syscall.S_IFCHR, 1, 8},
	{"/dev/urandom", syscall.S_IFCHR, 1, 9}, {"/dev/tty", syscall.S_IFCHR, 5, 0},
}

func checkDevices(t *tap, devices []rspec.LinuxDevice) {
	want := append([]devWant{}, defaultDevices...)
	kinds := map[string]uint32{"c": syscall.S_IFCHR, "u": syscall.S_IFCHR, "b": syscall.S_IFBLK,
		"p": syscall.S_IFIFO}
	for _, d := range devices {
		want = append(want, devWant{d.Path, kinds[d.Type], d.Major, d.Minor})
	}
	for _, w := range want {
		var st syscall.Stat_t
		if err := syscall.Stat(w.path, &st); err != nil {
			t.check(false, "device "+w.path+" exists", err)
			continue
		}
		major, minor := int64((st.Rdev>>8)&0xfff), int64((st.Rdev&0xff)|((st.Rdev>>12)&0xfff00))
		ok := st.Mode&syscall.S_IFMT == w.kind && (w.kind == syscall.S_IFIFO ||
			major == w.major && minor == w.minor)
		t.check(ok, "device "+w.path+" has its type and numbers", fmt.Sprintf("%o %d:%d", st.Mode, major, minor))
	}
	for _, d := range devices {
		var st syscall.Stat_t
		if syscall.Stat(d.Path, &st) != nil {
			continue
		}
		if d.FileMode != nil {
			t.check(os.FileMode(st.Mode&0o777) == *d.FileMode&0o777, "device "+d.Path+" has its mode",
				fmt.Sprintf("%o", st.Mode&0o777))
		}
		if d.UID != nil {
			t.check(st.Uid == *d.UID, "device "+d.Path+" has its uid", st.Uid)
		}
		if d.GID != nil {
			t.check(st.Gid == *d.GID, "device "+d.Path+" has its gid", st.Gid)
		}
	}
	for link, target := range map[string]string{"/dev/fd": "/proc/self/fd",
		"/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
		"/dev/stderr": "/proc/self/fd/2"} {
		got, err := os.Readlink(link)
		t.check(err == nil && got == target, "symlink "+link+" -> "+target, got)
	}
}

func checkPropagation(t *tap, want string) {
	root, ok := topMount(mountTable(), "/")
	if !ok {
		t.check(false, "/ is in mountinfo")
		return
	}
	has := func(prefix string) bool {
		for _, f := range strings.Fields(root.optional) {
			if strings.HasPrefix(f, prefix) {
				return true
			}
		}
		return false
	}
	switch want {
	case "shared", "rshared":
		t.check(has("shared:"), "rootfsPropagation "+want+" is applied", root.optional)
	case "slave", "rslave":
		t.check(has("master:"), "rootfsPropagation "+want+" is applied", root.optional)
	case "private", "rprivate":
		t.check(!has("shared:") && !has("master:"), "rootfsPropagation "+want+" is applied", root.optional)
	case "unbindable", "runbindable":
		t.check(has("unbindable"), "rootfsPropagation "+want+" is applied", root.optional)
	}
}
