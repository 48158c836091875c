package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-tools/generate"
)

type gen = *generate.Generator

func ptrU32(v uint32) *uint32            { return &v }
func ptrMode(v os.FileMode) *os.FileMode { return &v }

func propagation(mode string) scenario {
	return scenario{configure: func(g gen, _ string) { g.SetLinuxRootPropagation(mode) }}
}

func hookOf(dir, stage string) rspec.Hook {
	self, _ := os.Executable()
	return rspec.Hook{Path: self, Args: []string{"ocivalidate", "hook", stage,
		filepath.Join(dir, "rootfs", "hooks.log")}}
}

// scenarios: each is one container, run the same way against every runtime.
var scenarios = map[string]scenario{
	"default": {},
	"lifecycle": {lifecycle: true, configure: func(g gen, _ string) {
		g.AddProcessEnv("OCIVALIDATE_LINGER", "1")
		g.AddAnnotation("org.ocivalidate.key", "value")
	}},
	"process": {configure: func(g gen, _ string) {
		g.SetProcessUID(1000)
		g.SetProcessGID(1000)
		g.AddProcessAdditionalGid(100)
		g.SetProcessCwd("/tmp/work/dir")
		g.AddProcessEnv("HELLO", "world=1")
		g.AddProcessRlimits("RLIMIT_NOFILE", 8192, 4096) // soft: Go raises it to hard at start
		g.AddProcessRlimits("RLIMIT_NPROC", 4096, 2048)
		g.AddProcessEnv("EMPTY", "")
		g.AddProcessRlimits("RLIMIT_CORE", 0, 0)
		g.SetProcessNoNewPrivileges(true)
		g.SetProcessOOMScoreAdj(500)
		g.SetProcessUmask(0o027)
	}},
	"capabilities": {configure: func(g gen, _ string) {
		g.ClearProcessCapabilities()
		for _, c := range []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"} {
			g.AddProcessCapabilityBounding(c)
			g.AddProcessCapabilityEffective(c)
			g.AddProcessCapabilityPermitted(c)
		}
		g.AddProcessCapabilityInheritable("CAP_KILL")
		g.AddProcessCapabilityAmbient("CAP_KILL")
	}},
	"terminal": {terminal: true, configure: func(g gen, _ string) {
		g.SetProcessTerminal(true)
		g.SetProcessConsoleSize(100, 40)
	}},
	"hostname": {configure: func(g gen, _ string) { g.SetHostname("ocivalidate-host") }},
	"sysctl": {configure: func(g gen, _ string) {
		g.AddLinuxSysctl("net.ipv4.ip_forward", "1")
		g.AddLinuxSysctl("kernel.shmmni", "2048")
		g.AddLinuxSysctl("kernel.domainname", "ocivalidate.example")
		g.AddLinuxSysctl("fs.mqueue.queues_max", "300")
	}},
	"mounts": {configure: func(g gen, dir string) {
		os.WriteFile(filepath.Join(dir, "bound"), []byte("x"), 0o644) //nolint:errcheck
		g.AddMount(rspec.Mount{Destination: "/mnt/tmpfs", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "nodev", "noexec", "size=1m", "mode=700"}})
		g.AddMount(rspec.Mount{Destination: "/mnt/bound", Type: "bind",
			Source: filepath.Join(dir, "bound"), Options: []string{"bind", "ro"}})
		g.AddMount(rspec.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
			Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}})
	}},
	"mounts_through_symlink": {configure: func(g gen, dir string) {
		os.MkdirAll(filepath.Join(dir, "rootfs", "mnt", "target"), 0o755) //nolint:errcheck
		os.Symlink("target", filepath.Join(dir, "rootfs", "mnt", "link")) //nolint:errcheck
		os.Symlink("/..", filepath.Join(dir, "rootfs", "escape"))         //nolint:errcheck
		g.AddMount(rspec.Mount{Destination: "/mnt/link", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"mode=711"}})
		g.AddMount(rspec.Mount{Destination: "/escape/inside", Type: "tmpfs", Source: "tmpfs"})
	}},
	"seccomp_errno": {configure: func(g gen, _ string) {
		eperm := uint(1)
		g.Config.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow,
			Architectures: []rspec.Arch{rspec.ArchX86_64},
			Syscalls: []rspec.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"},
				Action: rspec.ActErrno, ErrnoRet: &eperm}}}
		g.AddProcessEnv("OCIVALIDATE_MKDIR_DENIED", "1")
	}},
	"root_readonly": {configure: func(g gen, _ string) { g.SetRootReadonly(true) }},
	"paths": {configure: func(g gen, _ string) {
		g.AddLinuxMaskedPaths("/etc/masked-dir")
		g.AddLinuxReadonlyPaths("/etc")
	}},
	"devices": {configure: func(g gen, _ string) {
		g.AddDevice(rspec.LinuxDevice{Path: "/dev/ocinull", Type: "c", Major: 1, Minor: 3,
			FileMode: ptrMode(0o640), UID: ptrU32(1), GID: ptrU32(2)})
		g.AddDevice(rspec.LinuxDevice{Path: "/dev/ocififo", Type: "p", FileMode: ptrMode(0o600)})
	}},
	"propagation_private":    propagation("private"),
	"propagation_rslave":     propagation("rslave"),
	"propagation_shared":     propagation("shared"),
	"propagation_unbindable": propagation("unbindable"),
	"namespaces_cgroup": {configure: func(g gen, _ string) {
		g.AddOrReplaceLinuxNamespace("cgroup", "")
	}},
	"namespaces_fewer": {configure: func(g gen, _ string) {
		g.RemoveLinuxNamespace("network")
		g.RemoveLinuxNamespace("ipc")
		g.RemoveLinuxNamespace("uts")
		g.RemoveHostname()
	}},
	"cgroups_absolute": {configure: cgroupLimits},
	"cgroups_relative": {configure: func(g gen, _ string) {
		cgroupLimits(g, "")
		g.SetLinuxCgroupsPath("ocivalidate/relative")
	}},
	"cgroups_devices": {configure: func(g gen, dir string) {
		major, null := int64(1), int64(3)
		g.AddLinuxResourcesDevice(false, "a", nil, nil, "rwm")
		g.AddLinuxResourcesDevice(true, "c", &major, &null, "rw")
		// a node of the rootfs (not in linux.devices, which runtimes allow): /dev/mem's numbers
		os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755)                                     //nolint:errcheck
		syscall.Mknod(filepath.Join(dir, "rootfs", "ocimem"), syscall.S_IFCHR|0o600, 1<<8|1) //nolint:errcheck
		g.AddProcessEnv("OCIVALIDATE_DENIED", "/ocimem")
		g.AddProcessEnv("OCIVALIDATE_ALLOWED", "/dev/null")
	}},
	"cgroups_kernel_memory": {configure: func(g gen, _ string) {
		g.SetLinuxResourcesMemoryKernel(64 << 20)
	}},
	"cgroups_kernel_tcp": {configure: func(g gen, _ string) {
		g.SetLinuxResourcesMemoryKernelTCP(16 << 20)
	}},
	"cgroups_hugetlb_unavailable": {createFail: !hasCgroup("hugetlb"), configure: func(g gen, _ string) {
		g.AddLinuxResourcesHugepageLimit("2MB", 4*1024*1024)
	}},
	"cgroups_network_unavailable": {createFail: !hasCgroup("net_cls"), configure: func(g gen, _ string) {
		g.SetLinuxResourcesNetworkClassID(0x100001)
	}},
	"hooks": {lifecycle: true, configure: func(g gen, dir string) {
		g.AddProcessEnv("OCIVALIDATE_LINGER", "1")
		g.AddPreStartHook(hookOf(dir, "prestart"))
		g.Config.Hooks.CreateRuntime = []rspec.Hook{hookOf(dir, "createRuntime")}
		g.Config.Hooks.CreateContainer = []rspec.Hook{hookOf(dir, "createContainer")}
		g.Config.Hooks.StartContainer = []rspec.Hook{{Path: "/ocivalidate",
			Args: []string{"ocivalidate", "hook", "startContainer", "/hooks.log"}}}
		g.AddPostStartHook(hookOf(dir, "poststart"))
		g.AddPostStopHook(hookOf(dir, "poststop"))
	}, hooks: []string{"prestart creating true", "createRuntime creating true",
		"createContainer creating true", "poststart", "startContainer created true",
		"poststop stopped true"}},
	"hooks_prestart_fails": {createFail: true, configure: func(g gen, _ string) {
		g.AddPreStartHook(rspec.Hook{Path: "/bin/false"})
	}},
	"userns": {configure: func(g gen, _ string) {
		g.AddOrReplaceLinuxNamespace("user", "")
		g.AddLinuxUIDMapping(100000, 0, 65536)
		g.AddLinuxGIDMapping(100000, 0, 65536)
	}},
	"namespace_path_uts": {configure: func(g gen, _ string) {
		g.AddOrReplaceLinuxNamespace("uts", fmt.Sprintf("/proc/%d/ns/uts", os.Getpid()))
		g.RemoveHostname()
	}},
	"namespace_path_wrong_type": {createFail: true, configure: func(g gen, _ string) {
		g.AddOrReplaceLinuxNamespace("pid", "/proc/self/ns/net")
	}},
	"apparmor_unavailable": {createFail: !exists("/sys/kernel/security/apparmor"),
		configure: func(g gen, _ string) { g.SetProcessApparmorProfile("ocivalidate") }},
	"mount_label_unavailable": {createFail: !exists("/sys/fs/selinux/enforce"),
		configure: func(g gen, _ string) { g.SetLinuxMountLabel("system_u:object_r:svirt_sandbox_file_t:s0") }},
	"sysctl_not_namespaced": {createFail: true, configure: func(g gen, _ string) {
		g.AddLinuxSysctl("kernel.printk", "4 4 1 7")
	}},
	"unknown_capability": {configure: func(g gen, _ string) {
		caps := g.Config.Process.Capabilities // the generator itself refuses unknown names
		caps.Bounding = append(caps.Bounding, "CAP_OCIVALIDATE_NO_SUCH")
	}},
	"rlimit_unlimited": {configure: func(g gen, _ string) {
		g.AddProcessRlimits("RLIMIT_CORE", ^uint64(0), ^uint64(0)) // hard: the host's already
	}},
	"bad_rlimit": {createFail: true, configure: func(g gen, _ string) {
		g.Config.Process.Rlimits = append(g.Config.Process.Rlimits,
			rspec.POSIXRlimit{Type: "RLIMIT_OCIVALIDATE", Hard: 1, Soft: 1})
	}},
	"bad_args": {createFail: true, configure: func(g gen, _ string) {
		g.SetProcessArgs([]string{"/no/such/program"})
	}},
}

func cgroupLimits(g gen, _ string) {
	g.SetLinuxResourcesMemoryLimit(64 << 20)
	g.SetLinuxResourcesMemoryReservation(32 << 20)
	g.SetLinuxResourcesMemorySwap(128 << 20)
	g.SetLinuxResourcesCPUShares(512)
	g.SetLinuxResourcesCPUQuota(50000)
	g.SetLinuxResourcesCPUPeriod(100000)
	g.SetLinuxResourcesPidsLimit(64)
	g.SetLinuxResourcesCPUCpus("0")
	g.SetLinuxResourcesCPUMems("0")
	g.SetLinuxResourcesMemorySwappiness(30)
	g.SetLinuxResourcesMemoryDisableOOMKiller(true)
	if major, minor, ok := blockDevice(); ok {
		g.AddLinuxResourcesBlockIOThrottleReadBpsDevice(major, minor, 1048576)
	}
}

// blockDevice is the first block device of the host's (throttling needs a real one).
func blockDevice() (int64, int64, bool) {
	entries, err := os.ReadDir("/sys/dev/block")
	if err != nil || len(entries) == 0 {
		return 0, 0, false
	}
	var major, minor int64
	if _, err := fmt.Sscanf(entries[0].Name(), "%d:%d", &major, &minor); err != nil {
		return 0, 0, false
	}
	return major, minor, true
}

func hasCgroup(controller string) bool { return exists(filepath.Join("/sys/fs/cgroup", controller)) }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
