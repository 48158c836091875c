package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-tools/cgroups"
)

var nsFiles = map[rspec.LinuxNamespaceType]string{
	rspec.PIDNamespace: "pid", rspec.NetworkNamespace: "net", rspec.MountNamespace: "mnt",
	rspec.IPCNamespace: "ipc", rspec.UTSNamespace: "uts", rspec.CgroupNamespace: "cgroup",
	rspec.UserNamespace: "user",
}

// checkHost checks, from the host, a created container's namespaces and cgroups.
func checkHost(t *tap, pid int, spec rspec.Spec) {
	if pid <= 0 {
		return
	}
	wanted := map[rspec.LinuxNamespaceType]string{}
	for _, ns := range spec.Linux.Namespaces {
		wanted[ns.Type] = ns.Path
	}
	for _, kind := range []rspec.LinuxNamespaceType{rspec.PIDNamespace, rspec.NetworkNamespace,
		rspec.MountNamespace, rspec.IPCNamespace, rspec.UTSNamespace, rspec.CgroupNamespace,
		rspec.UserNamespace} {
		name := nsFiles[kind]
		theirs, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, name))
		ours, err2 := os.Readlink("/proc/self/ns/" + name)
		if err1 != nil || err2 != nil {
			t.skip(fmt.Sprintf("%s namespace", kind), "not readable on this host")
			continue
		}
		path, asked := wanted[kind]
		switch {
		case asked && path == "":
			t.check(theirs != ours, fmt.Sprintf("a new %s namespace is created", kind))
		case asked:
			want, _ := os.Readlink(path)
			t.check(theirs == want, fmt.Sprintf("the %s namespace at its path is joined", kind), theirs, " != ", want)
		default:
			t.check(theirs == ours, fmt.Sprintf("no %s namespace asked: the runtime's is kept", kind))
		}
	}
	checkCgroups(t, pid, spec)
}

func checkCgroups(t *tap, pid int, spec rspec.Spec) {
	res := spec.Linux.Resources
	if res == nil {
		return
	}
	cg, err := cgroups.FindCgroup()
	if err != nil {
		t.skip("cgroups", err.Error())
		return
	}
	path := spec.Linux.CgroupsPath
	if m := res.Memory; m != nil {
		got, err := cg.GetMemoryData(pid, path)
		t.check(err == nil, "cgroup memory settings are readable", err)
		if err == nil {
			eq(t, "memory.limit", m.Limit, got.Limit)
			eq(t, "memory.reservation", m.Reservation, got.Reservation)
			eq(t, "memory.swap", m.Swap, got.Swap)
			if m.Swappiness != nil && got.Swappiness != nil {
				t.check(*m.Swappiness == *got.Swappiness, "memory.swappiness is set", *got.Swappiness)
			}
			if m.DisableOOMKiller != nil && got.DisableOOMKiller != nil {
				t.check(*m.DisableOOMKiller == *got.DisableOOMKiller, "memory.disableOOMKiller is set")
			}
			eq(t, "memory.kernel", m.Kernel, got.Kernel)
			eq(t, "memory.kernelTCP", m.KernelTCP, got.KernelTCP)
		}
	}
	if c := res.CPU; c != nil {
		got, err := cg.GetCPUData(pid, path)
		t.check(err == nil, "cgroup cpu settings are readable", err)
		if err == nil {
			eq(t, "cpu.shares", c.Shares, got.Shares)
			eq(t, "cpu.quota", c.Quota, got.Quota)
			eq(t, "cpu.period", c.Period, got.Period)
			if c.Cpus != "" {
				t.check(c.Cpus == got.Cpus, "cpu.cpus is set", got.Cpus)
			}
		}
	}
	if p := res.Pids; p != nil {
		got, err := cg.GetPidsData(pid, path)
		t.check(err == nil, "cgroup pids settings are readable", err)
		if err == nil {
			t.check(got.Limit == p.Limit, "pids.limit is set", got.Limit)
		}
	}
	if b := res.BlockIO; b != nil {
		for _, dev := range b.ThrottleReadBpsDevice {
			want := fmt.Sprintf("%d:%d %d", dev.Major, dev.Minor, dev.Rate)
			got := readCgroupFile(pid, "blkio", path, "blkio.throttle.read_bps_device")
			t.check(strings.Contains(got, want), "blkio.throttleReadBpsDevice is set", got)
		}
	}
}

func eq[T int64 | uint64](t *tap, name string, want, got *T) {
	if want == nil {
		return
	}
	if got == nil {
		t.check(false, name+" is set", "not read")
		return
	}
	t.check(*got == *want, name+" is set", *got)
}

// readCgroupFile reads a controller file of the container's cgroup (where the kernel
// says its process is), "" when missing.
func readCgroupFile(pid int, controller, cgPath, file string) string {
	sub, err := cgroups.GetSubsystemPath(pid, controller)
	if err != nil {
		return ""
	}
	data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, sub, file))
	if err != nil {
		return ""
	}
	return string(data)
}

// checkNoCgroup: after delete (or a failed create), no cgroup of an absolute path is left.
func checkNoCgroup(t *tap, spec rspec.Spec) {
	path := spec.Linux.CgroupsPath
	if !filepath.IsAbs(path) {
		return
	}
	var left []string
	for _, controller := range []string{"memory", "pids", "cpu", "devices", "freezer"} {
		p := filepath.Join("/sys/fs/cgroup", controller, path)
		if _, err := os.Stat(p); err == nil {
			left = append(left, p)
		}
	}
	t.check(len(left) == 0, "the container's cgroups are removed", left)
}
