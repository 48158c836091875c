// Command ocivalidate is hako's OCI runtime validation program, built on the OCI's own
// runtime-tools library (Debian's golang-github-opencontainers-runtime-tools-dev: its
// config generator and its cgroup reader). For one scenario it writes a bundle whose
// config comes from runtime-tools' generator, drives a runtime through the runtime CLI
// (create, state, start, kill, delete), checks the cgroups from the host with
// runtime-tools' reader, and checks the process from inside the container with a copy of
// itself (`ocivalidate inside`). Every check is one TAP line.
//
//	ocivalidate list                    the scenario names
//	ocivalidate run SCENARIO RUNTIME... TAP for one scenario against RUNTIME (an argv)
//	ocivalidate inside                  in the container: the process against /config.json
//	ocivalidate hook STAGE FILE         a hook: appends "STAGE status" from the state on stdin
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// tap numbers and prints TAP lines.
type tap struct {
	n   int
	out io.Writer
}

func (t *tap) check(ok bool, desc string, detail ...interface{}) {
	t.n++
	word := "ok"
	if !ok {
		word = "not ok"
	}
	fmt.Fprintf(t.out, "%s %d - %s\n", word, t.n, desc)
	if !ok && len(detail) > 0 {
		fmt.Fprintf(t.out, "# %s\n", strings.ReplaceAll(fmt.Sprint(detail...), "\n", " "))
	}
}

func (t *tap) skip(desc, why string) {
	t.n++
	fmt.Fprintf(t.out, "ok %d - %s # SKIP %s\n", t.n, desc, why)
}

func (t *tap) plan() { fmt.Fprintf(t.out, "1..%d\n", t.n) }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ocivalidate list | run SCENARIO RUNTIME... | inside | hook STAGE FILE")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "list":
		names := make([]string, 0, len(scenarios))
		for name := range scenarios {
			names = append(names, name)
		}
		sort.Strings(names)
		fmt.Println(strings.Join(names, "\n"))
	case "run":
		if len(os.Args) < 4 {
			fmt.Fprintln(os.Stderr, "usage: ocivalidate run SCENARIO RUNTIME...")
			os.Exit(2)
		}
		sc, ok := scenarios[os.Args[2]]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown scenario %q\n", os.Args[2])
			os.Exit(2)
		}
		t := &tap{out: os.Stdout}
		if err := runScenario(t, os.Args[2], sc, os.Args[3:]); err != nil {
			fmt.Printf("Bail out! %v\n", err)
			os.Exit(1)
		}
		t.plan()
	case "inside":
		t := &tap{out: os.Stdout}
		inside(t)
		t.plan()
	case "hook":
		hook(os.Args[2], os.Args[3])
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

// hook appends "STAGE STATUS ID-MATCHES" for the state document on stdin.
func hook(stage, file string) {
	var state struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Pid    int    `json:"pid"`
		Bundle string `json:"bundle"`
	}
	data, _ := io.ReadAll(os.Stdin)
	if err := json.Unmarshal(data, &state); err != nil {
		state.Status = "no-state-on-stdin"
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		os.Exit(1)
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s %t\n", stage, state.Status, state.ID != "" && state.Bundle != "")
}
