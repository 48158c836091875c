package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-tools/generate"
)

// scenario is one bundle: how its config differs from the generator's defaults, and what
// the runner checks beyond the common lifecycle.
type scenario struct {
	configure  func(g *generate.Generator, dir string)
	createFail bool // create must fail, leaving no container and no cgroup
	lifecycle  bool // the process lingers: state running, kill, the runtime's refusals
	terminal   bool // process.terminal, its pty master received on a console socket
	hooks      []string
}

type driver struct {
	argv []string
	root string
}

func (d driver) run(stdout io.Writer, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append(append(append([]string{}, d.argv[1:]...), "--root", d.root), args...)
	cmd := exec.CommandContext(ctx, d.argv[0], argv...)
	// files, not pipes: a created container's init inherits them and would hold a pipe open
	errf, err := os.CreateTemp("", "ocivalidate-stderr-")
	if err != nil {
		return err.Error(), err
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	if stdout == io.Discard {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return err.Error(), err
		}
		defer null.Close()
		stdout = null
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, stdout, errf
	err = cmd.Run()
	msg, _ := os.ReadFile(errf.Name())
	return string(msg), err
}

func (d driver) state(id string) (rspec.State, error) {
	var st rspec.State
	out, err := os.CreateTemp("", "ocivalidate-state-")
	if err != nil {
		return st, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	if _, err := d.run(out, "state", id); err != nil {
		return st, err
	}
	data, err := os.ReadFile(out.Name())
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	return st, err
}

func (d driver) waitStatus(id, status string) rspec.State {
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := d.state(id)
		if (err == nil && string(st.Status) == status) || time.Now().After(deadline) {
			return st
		}
		time.Sleep(20 * time.Millisecond) // polling a state, with a deadline
	}
}

func writeBundle(dir string, g *generate.Generator) error {
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	data, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rootfs, "ocivalidate"), data, 0o755); err != nil {
		return err
	}
	opts := generate.ExportOptions{}
	if err := g.SaveToFile(filepath.Join(dir, "config.json"), opts); err != nil {
		return err
	}
	return g.SaveToFile(filepath.Join(rootfs, "config.json"), opts)
}

func runScenario(t *tap, name string, sc scenario, runtime []string) error {
	dir, err := os.MkdirTemp("", "ocivalidate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // a mapped root must reach the rootfs
		return err
	}
	g, err := generate.New("linux")
	if err != nil {
		return err
	}
	id := fmt.Sprintf("ocivalidate-%d-%s", os.Getpid(), name)
	g.SetRootPath("rootfs")
	g.SetProcessArgs([]string{"/ocivalidate", "inside"})
	g.SetLinuxCgroupsPath("/" + id)
	g.AddProcessEnv("OCIVALIDATE", name)
	if sc.configure != nil {
		sc.configure(&g, dir)
	}
	if err := writeBundle(dir, &g); err != nil {
		return err
	}
	spec := *g.Config
	d := driver{argv: runtime, root: filepath.Join(dir, "state")}
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		return err
	}
	defer out.Close()
	defer d.run(io.Discard, "delete", "--force", id) //nolint:errcheck // cleanup
	create := []string{"create", "--bundle", dir}
	if sc.lifecycle {
		create = append(create, "--pid-file", filepath.Join(dir, "pidfile"))
	}
	waitConsole := func() {}
	if sc.terminal {
		sock := filepath.Join(dir, "console.sock")
		if waitConsole, err = consoleSocket(sock, out); err != nil {
			return err
		}
		create = append(create, "--console-socket", sock)
	}
	stderr, err := d.run(out, append(create, id)...)
	if sc.createFail {
		t.check(err != nil, "create fails", stderr)
		_, serr := d.state(id)
		t.check(serr != nil, "no container is left after a failed create")
		checkNoCgroup(t, spec)
		return nil
	}
	t.check(err == nil, "create succeeds", stderr)
	if err != nil {
		return nil
	}
	st, err := d.state(id)
	t.check(err == nil, "state of a created container succeeds", err)
	checkState(t, st, id, dir, "created")
	checkHost(t, st.Pid, spec)
	if sc.lifecycle {
		lifecycleBeforeStart(t, d, st, dir)
	}
	stderr, err = d.run(io.Discard, "start", id)
	t.check(err == nil, "start succeeds", stderr)
	if sc.lifecycle {
		lifecycleRunning(t, d, id, dir)
	}
	st = d.waitStatus(id, "stopped")
	t.check(st.Status == "stopped", "the container reaches stopped after its process exits", st.Status)
	waitConsole()
	if sc.lifecycle {
		stderr, err = d.run(io.Discard, "kill", id, "KILL")
		t.check(err != nil, "kill of a stopped container fails", stderr)
		stderr, err = d.run(io.Discard, "start", id)
		t.check(err != nil, "start of a stopped container fails", stderr)
	}
	checkInsideOutput(t, filepath.Join(dir, "out"))
	stderr, err = d.run(io.Discard, "delete", id)
	t.check(err == nil, "delete of a stopped container succeeds", stderr)
	_, err = d.state(id)
	t.check(err != nil, "state after delete fails")
	checkNoCgroup(t, spec)
	if len(sc.hooks) > 0 {
		checkHooks(t, filepath.Join(dir, "rootfs", "hooks.log"), sc.hooks)
	}
	return nil
}

func checkState(t *tap, st rspec.State, id, dir, status string) {
	t.check(st.Version != "", "state has ociVersion")
	t.check(st.ID == id, "state has the container's id", st.ID)
	t.check(string(st.Status) == status, "state status is "+status, st.Status)
	t.check(st.Pid > 0, "state has the pid of the container process", st.Pid)
	t.check(st.Bundle == dir, "state has the absolute bundle path", st.Bundle)
}

func lifecycleBeforeStart(t *tap, d driver, st rspec.State, dir string) {
	id := st.ID
	data, err := os.ReadFile(filepath.Join(dir, "pidfile"))
	t.check(err == nil && strings.TrimSpace(string(data)) == fmt.Sprint(st.Pid),
		"the pid file holds the container's pid", string(data))
	// a config changed after create changes nothing: the process stays the created one
	var spec rspec.Spec
	if data, err = os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		if json.Unmarshal(data, &spec) == nil {
			for k, v := range spec.Annotations {
				t.check(st.Annotations[k] == v, "state has annotation "+k, st.Annotations)
			}
			spec.Process.Args = []string{"/ocivalidate", "list"}
			data, _ = json.Marshal(spec)
			os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644) //nolint:errcheck
		}
	}
	stderr, err := d.run(io.Discard, "create", "--bundle", dir, id)
	t.check(err != nil, "create with an id in use fails", stderr)
	_, err = d.state("ocivalidate-no-such-container")
	t.check(err != nil, "state of an unknown id fails")
	stderr, err = d.run(io.Discard, "delete", "ocivalidate-no-such-container")
	t.check(err != nil, "delete of an unknown id fails", stderr)
}

func lifecycleRunning(t *tap, d driver, id, dir string) {
	st := d.waitStatus(id, "running")
	t.check(st.Status == "running", "state status is running after start", st.Status)
	execChecks(t, d, id, dir)
	stderr, err := d.run(io.Discard, "start", id)
	t.check(err != nil, "start of a running container fails", stderr)
	stderr, err = d.run(io.Discard, "delete", id)
	t.check(err != nil, "delete of a running container without --force fails", stderr)
	st, _ = d.state(id)
	t.check(st.Status == "running", "a refused delete leaves the container running", st.Status)
	stderr, err = d.run(io.Discard, "kill", id, "TERM")
	t.check(err == nil, "kill TERM succeeds", stderr)
}

func checkInsideOutput(t *tap, path string) { reemit(t, path, "inside: ") }

// execChecks runs the checker in the running container with exec, once as the config's
// process and once as a process JSON of its own (--process).
func execChecks(t *tap, d driver, id, dir string) {
	proc := rspec.Process{Args: []string{"/ocivalidate", "inside"}, Cwd: "/tmp",
		Env:             []string{"PATH=/bin", "OCIVALIDATE_PROCESS=/exec-process.json"},
		User:            rspec.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10}},
		NoNewPrivileges: true,
		Capabilities: &rspec.LinuxCapabilities{Bounding: []string{"CAP_KILL"},
			Effective: []string{"CAP_KILL"}, Permitted: []string{"CAP_KILL"},
			Inheritable: []string{"CAP_KILL"}, Ambient: []string{"CAP_KILL"}},
		Rlimits: []rspec.POSIXRlimit{{Type: "RLIMIT_NPROC", Hard: 300, Soft: 200}}}
	data, _ := json.Marshal(proc)
	path := filepath.Join(dir, "exec-process.json")
	for _, p := range []string{path, filepath.Join(dir, "rootfs", "exec-process.json")} {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.check(false, "exec process JSON written", err)
			return
		}
	}
	for _, c := range []struct {
		prefix string
		args   []string
	}{
		{"exec: ", []string{"exec", id, "/ocivalidate", "inside"}},
		{"exec --process: ", []string{"exec", "--process", path, id}},
	} {
		out := filepath.Join(dir, "exec-out")
		f, err := os.Create(out)
		if err != nil {
			return
		}
		stderr, err := d.run(f, c.args...)
		f.Close()
		t.check(err == nil, c.prefix+"succeeds", stderr)
		reemit(t, out, c.prefix)
	}
}

func reemit(t *tap, path, prefix string) {
	f, err := os.Open(path)
	if err != nil {
		t.check(false, "the process's output is readable", err)
		return
	}
	defer f.Close()
	seen := 0
	scan := bufio.NewScanner(f)
	for scan.Scan() {
		line := strings.TrimRight(scan.Text(), "\r")
		ok := strings.HasPrefix(line, "ok ")
		if !ok && !strings.HasPrefix(line, "not ok ") {
			continue
		}
		seen++
		desc := line[strings.Index(line, " - ")+3:]
		if strings.Contains(desc, " # SKIP ") {
			parts := strings.SplitN(desc, " # SKIP ", 2)
			t.skip(prefix+parts[0], parts[1])
			continue
		}
		t.check(ok, prefix+desc)
	}
	t.check(seen > 0, prefix+"the checks ran inside the container")
}

// checkHooks: each hook line in order; startContainer (in the container) and poststart
// (in the runtime) race each other, so those two are sorted, and poststart's status is
// whatever the runtime's probe saw (runc reports "created" until the process is exec'd).
func checkHooks(t *tap, path string, want []string) {
	data, err := os.ReadFile(path)
	got := strings.Split(strings.TrimSpace(string(data)), "\n")
	t.check(err == nil, "the hooks ran", err)
	for i := range got {
		if strings.HasPrefix(got[i], "poststart ") {
			got[i] = "poststart"
		}
	}
	if len(got) >= 5 {
		sort.Strings(got[3:5])
	}
	for i, w := range want {
		g := "<none>"
		if i < len(got) {
			g = got[i]
		}
		t.check(g == w, fmt.Sprintf("hook %d is %q", i+1, w), g)
	}
	t.check(len(got) == len(want), "no other hook ran", got)
}
