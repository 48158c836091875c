package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/syndtr/gocapability/capability"
)

// inside checks the process it runs in against /config.json.
func inside(t *tap) {
	data, err := os.ReadFile("/config.json")
	var spec rspec.Spec
	if err == nil {
		err = json.Unmarshal(data, &spec)
	}
	t.check(err == nil, "config.json is readable in the container", err)
	if err != nil {
		return
	}
	if alt := os.Getenv("OCIVALIDATE_PROCESS"); alt != "" { // exec --process: that one
		data, err = os.ReadFile(alt)
		if err == nil {
			err = json.Unmarshal(data, &spec.Process)
		}
		t.check(err == nil, "the exec process JSON is readable", err)
	}
	checkProcess(t, spec.Process)
	checkCapabilities(t, spec.Process.Capabilities)
	checkRlimits(t, spec.Process.Rlimits)
	if spec.Hostname != "" {
		name, _ := os.Hostname()
		t.check(name == spec.Hostname, "hostname is set", name)
	}
	checkFilesystem(t, spec)
	for _, path := range strings.FieldsFunc(os.Getenv("OCIVALIDATE_DENIED"), isComma) {
		f, err := os.Open(path)
		if err == nil {
			f.Close()
		}
		t.check(os.IsPermission(err), "the device cgroup denies "+path, err)
	}
	if os.Getenv("OCIVALIDATE_MKDIR_DENIED") != "" {
		err := os.Mkdir("/tmp/ocivalidate-seccomp", 0o755)
		t.check(os.IsPermission(err), "seccomp: mkdir fails with EPERM", err)
	}
	for _, path := range strings.FieldsFunc(os.Getenv("OCIVALIDATE_ALLOWED"), isComma) {
		f, err := os.Open(path)
		if err == nil {
			f.Close()
		}
		t.check(err == nil, "the device cgroup allows "+path, err)
	}
	if spec.Linux != nil {
		checkLinux(t, spec.Linux)
	}
	if os.Getenv("OCIVALIDATE_LINGER") != "" && os.Getpid() == 1 { // lifecycle: wait for TERM
		os.Stdout.Sync()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		select {
		case <-sig:
		case <-time.After(60 * time.Second):
		}
	}
}

func isComma(r rune) bool { return r == ',' }

func checkProcess(t *tap, p *rspec.Process) {
	cwd, _ := os.Getwd()
	t.check(cwd == p.Cwd, "cwd is process.cwd", cwd)
	t.check(os.Getuid() == int(p.User.UID), "uid is process.user.uid", os.Getuid())
	t.check(os.Getgid() == int(p.User.GID), "gid is process.user.gid", os.Getgid())
	groups, _ := os.Getgroups()
	for _, gid := range p.User.AdditionalGids {
		found := false
		for _, g := range groups {
			found = found || g == int(gid)
		}
		t.check(found, fmt.Sprintf("additional gid %d is set", gid), groups)
	}
	for _, kv := range p.Env {
		parts := strings.SplitN(kv, "=", 2)
		t.check(os.Getenv(parts[0]) == parts[1], "env "+parts[0]+" is set", os.Getenv(parts[0]))
	}
	if p.Terminal {
		t.check(isTerminal(0) && isTerminal(1) && isTerminal(2), "stdio is the terminal")
		var st syscall.Stat_t
		err := syscall.Stat("/dev/console", &st)
		t.check(err == nil && st.Mode&syscall.S_IFMT == syscall.S_IFCHR && st.Rdev>>8 == 136,
			"/dev/console is the pty", err)
		var ws struct{ rows, cols, x, y uint16 }
		syscall.Syscall(syscall.SYS_IOCTL, 0, syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws))) //nolint:errcheck
		if p.ConsoleSize != nil {
			t.check(uint(ws.cols) == p.ConsoleSize.Width && uint(ws.rows) == p.ConsoleSize.Height,
				"consoleSize is the terminal's size", ws.cols, "x", ws.rows)
		}
	}
	nnp := statusField("NoNewPrivs")
	t.check((nnp == "1") == p.NoNewPrivileges, "noNewPrivileges is applied", nnp)
	if p.OOMScoreAdj != nil {
		data, _ := os.ReadFile("/proc/self/oom_score_adj")
		t.check(strings.TrimSpace(string(data)) == strconv.Itoa(*p.OOMScoreAdj), "oomScoreAdj is set", string(data))
	}
	if p.User.Umask != nil {
		old := syscall.Umask(0)
		syscall.Umask(old)
		t.check(uint32(old) == *p.User.Umask, "umask is set", old)
	}
}

func statusField(name string) string {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, name+":") {
			return strings.TrimSpace(line[len(name)+1:])
		}
	}
	return ""
}

func checkCapabilities(t *tap, caps *rspec.LinuxCapabilities) {
	if caps == nil {
		return
	}
	sets := []struct {
		name, field string
		want        []string
	}{{"bounding", "CapBnd", caps.Bounding}, {"effective", "CapEff", caps.Effective},
		{"permitted", "CapPrm", caps.Permitted}, {"inheritable", "CapInh", caps.Inheritable},
		{"ambient", "CapAmb", caps.Ambient}}
	last := capability.CAP_LAST_CAP
	for _, set := range sets {
		mask, err := strconv.ParseUint(statusField(set.field), 16, 64)
		if err != nil {
			t.check(false, "capabilities "+set.name+" readable", err)
			continue
		}
		want := uint64(0)
		for _, name := range set.want {
			for _, c := range capability.List() {
				if c <= last && "CAP_"+strings.ToUpper(c.String()) == name {
					want |= 1 << uint(c)
				}
			}
		}
		t.check(mask == want, "capabilities "+set.name+" are exactly the configured ones",
			fmt.Sprintf("%x != %x", mask, want))
	}
}

var rlimitNames = map[string]int{
	"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
	"RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
	"RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
	"RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

func checkRlimits(t *tap, limits []rspec.POSIXRlimit) {
	for _, rl := range limits {
		var got syscall.Rlimit
		if err := syscall.Getrlimit(rlimitNames[rl.Type], &got); err != nil {
			t.check(false, rl.Type+" readable", err)
			continue
		}
		soft := got.Cur == rl.Soft || rl.Type == "RLIMIT_NOFILE" // Go raised it to the hard one
		t.check(soft && got.Max == rl.Hard, rl.Type+" is set",
			fmt.Sprintf("%d/%d", got.Cur, got.Max))
	}
}

type mountLine struct{ point, options, optional, fstype string }

func mountTable() []mountLine {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var out []mountLine
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		sep := 6
		for sep < len(f) && f[sep] != "-" {
			sep++
		}
		if sep+1 >= len(f) {
			continue
		}
		out = append(out, mountLine{f[4], f[5], strings.Join(f[6:sep], " "), f[sep+1]})
	}
	return out
}

func topMount(table []mountLine, point string) (mountLine, bool) {
	var found mountLine
	ok := false
	for _, m := range table {
		if m.point == point {
			found, ok = m, true
		}
	}
	return found, ok
}

func checkFilesystem(t *tap, spec rspec.Spec) {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/", &st); err == nil {
		ro := st.Flags&1 != 0 // ST_RDONLY
		t.check(ro == spec.Root.Readonly, "root.readonly is applied", ro)
	}
	table := mountTable()
	for _, m := range spec.Mounts {
		point, err := filepath.EvalSymlinks(m.Destination)
		if err != nil {
			point = m.Destination
		}
		got, ok := topMount(table, point)
		t.check(ok, "mount "+m.Destination+" exists", point)
		if !ok {
			continue
		}
		for _, opt := range m.Options {
			if strings.HasPrefix(opt, "mode=") && m.Type == "tmpfs" {
				var st syscall.Stat_t
				err := syscall.Stat(point, &st)
				want, _ := strconv.ParseUint(opt[5:], 8, 32)
				t.check(err == nil && uint64(st.Mode&0o7777) == want,
					"mount "+m.Destination+" has "+opt, fmt.Sprintf("%o", st.Mode&0o7777))
			}
		}
		if m.Type != "bind" && m.Type != "" {
			t.check(got.fstype == m.Type || (m.Type == "cgroup" && got.fstype == "tmpfs"),
				"mount "+m.Destination+" has type "+m.Type, got.fstype)
		}
		for _, opt := range m.Options {
			if opt == "ro" || opt == "nosuid" || opt == "nodev" || opt == "noexec" {
				t.check(strings.Contains(","+got.options+",", ","+opt+","),
					"mount "+m.Destination+" has option "+opt, got.options)
			}
		}
	}
}
