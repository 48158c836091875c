"""hako's default seccomp policy, written as data, and its translation to OCI ``linux.seccomp``.

Layer: runtime (3). May import: errors.

The policy is a deny-by-default list (every syscall not named fails with EPERM). What it
allows is the same as Docker's default profile (a fact the test suite checks, for every
capability set, against Docker's own file kept outside the package); how it is written down
is ours: syscalls are grouped by what they are for, and each conditional group says in one
place which capability, architecture or kernel it depends on and which argument rule
applies.

``generate(caps, arch, kernel)`` turns the policy into the OCI ``linux.seccomp`` dict for a
container whose bounding set is ``caps``: a group is kept when all its conditions hold for
that container. ``digest()`` names the policy (it keys compiled filters).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, NamedTuple

from hako.linux.syscalls import (CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS,
                                 CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS)
from hako.runtime.seccomp import _kernel_tuple

EPERM = 1
ENOSYS = 38

# The native architecture (Go's spelling, as ``seccomp.host_arch`` gives it) → the libseccomp
# architectures a filter for it covers: the native one first, then its compat ABIs.
ARCHES: dict[str, tuple[str, ...]] = {
    "amd64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "arm64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"),
    "mips64": ("SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"),
    "mips64n32": ("SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"),
    "mipsel64": ("SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"),
    "mips3l64n32": ("SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"),
    "s390x": ("SCMP_ARCH_S390X", "SCMP_ARCH_S390"),
    "riscv64": ("SCMP_ARCH_RISCV64",),
    "loong64": ("SCMP_ARCH_LOONGARCH64",),
}

# clone(2) flags that create namespaces: without CAP_SYS_ADMIN none of them may be set.
CLONE_NAMESPACES = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
                    | CLONE_NEWPID | CLONE_NEWNET)

# socket(2) address families that stay closed: AF_ALG (kernel crypto) and AF_VSOCK.
AF_ALG = 38
AF_VSOCK = 40

# personality(2) values a container may set: the default, UNAME26 / READ_IMPLIES_EXEC
# combinations some old binaries ask for, and 0xffffffff (the query).
PER_LINUX = 0x0000
UNAME26 = 0x0020000
PER_LINUX32 = 0x0008
PERSONALITY_QUERY = 0xFFFFFFFF


# ------------------------------------------------------------------ always allowed, by purpose

ALWAYS: dict[str, str] = {
    "files and directories": """
        access faccessat faccessat2 chdir fchdir getcwd chmod fchmod fchmodat fchmodat2
        chown chown32 fchown fchown32 fchownat lchown lchown32 creat open openat openat2
        close close_range mkdir mkdirat mknod mknodat rmdir link linkat symlink symlinkat
        unlink unlinkat rename renameat renameat2 readlink readlinkat umask
        truncate truncate64 ftruncate ftruncate64 fallocate name_to_handle_at
        getdents getdents64 utime utimes utimensat utimensat_time64 futimesat
    """,
    "file status": """
        stat stat64 lstat lstat64 fstat fstat64 fstatat64 newfstatat statx
        statfs statfs64 fstatfs fstatfs64 statmount listmount
    """,
    "extended attributes": """
        getxattr lgetxattr fgetxattr getxattrat setxattr lsetxattr fsetxattr setxattrat
        listxattr llistxattr flistxattr listxattrat removexattr lremovexattr fremovexattr
        removexattrat
    """,
    "reading and writing": """
        read readv pread64 preadv preadv2 write writev pwrite64 pwritev pwritev2
        lseek _llseek sendfile sendfile64 splice tee vmsplice copy_file_range readahead
        fadvise64 fadvise64_64 sync syncfs fsync fdatasync sync_file_range
        dup dup2 dup3 fcntl fcntl64 flock ioctl pipe pipe2
    """,
    "asynchronous I/O": """
        io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents
        io_pgetevents_time64 ioprio_get ioprio_set
    """,
    "waiting for events": """
        select _newselect pselect6 pselect6_time64 poll ppoll ppoll_time64
        epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_wait epoll_wait_old
        epoll_pwait epoll_pwait2 eventfd eventfd2 signalfd signalfd4
        timerfd_create timerfd_settime timerfd_settime64 timerfd_gettime timerfd_gettime64
        inotify_init inotify_init1 inotify_add_watch inotify_rm_watch fanotify_mark
    """,
    "memory": """
        brk mmap mmap2 munmap mremap mprotect madvise mincore msync remap_file_pages
        mlock mlock2 mlockall munlock munlockall memfd_create memfd_secret membarrier
        pkey_alloc pkey_free pkey_mprotect mseal map_shadow_stack cachestat
    """,
    "processes and threads": """
        fork vfork execve execveat exit exit_group wait4 waitid waitpid
        getpid getppid gettid getpgid setpgid getpgrp getsid setsid
        set_tid_address get_robust_list set_robust_list get_thread_area set_thread_area
        rseq restart_syscall prctl pidfd_open pidfd_send_signal process_mrelease
        getcpu riscv_hwprobe uretprobe seccomp
        landlock_create_ruleset landlock_add_rule landlock_restrict_self
    """,
    "futexes": """
        futex futex_time64 futex_wait futex_wake futex_waitv futex_requeue
    """,
    "signals": """
        kill tkill tgkill pause sigaltstack sigprocmask sigreturn
        rt_sigaction rt_sigprocmask rt_sigpending rt_sigqueueinfo rt_tgsigqueueinfo
        rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
    """,
    "credentials": """
        getuid getuid32 geteuid geteuid32 getgid getgid32 getegid getegid32
        getresuid getresuid32 getresgid getresgid32 getgroups getgroups32
        setuid setuid32 setgid setgid32 setreuid setreuid32 setregid setregid32
        setresuid setresuid32 setresgid setresgid32 setfsuid setfsuid32
        setfsgid setfsgid32 setgroups setgroups32 capget capset
    """,
    "limits, usage and scheduling": """
        getrlimit ugetrlimit setrlimit prlimit64 getrusage times sysinfo uname
        getpriority setpriority sched_yield sched_getaffinity sched_setaffinity
        sched_getattr sched_setattr sched_getparam sched_setparam
        sched_getscheduler sched_setscheduler sched_get_priority_max
        sched_get_priority_min sched_rr_get_interval sched_rr_get_interval_time64
        getrandom
    """,
    "clocks and timers": """
        time gettimeofday clock_gettime clock_gettime64 clock_getres clock_getres_time64
        clock_nanosleep clock_nanosleep_time64 nanosleep adjtimex clock_adjtime
        clock_adjtime64 alarm getitimer setitimer timer_create timer_delete
        timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
    """,
    "sockets (socket(2) itself is below)": """
        socketpair socketcall bind connect listen accept accept4 shutdown
        getsockname getpeername getsockopt setsockopt send sendto sendmsg sendmmsg
        recv recvfrom recvmsg recvmmsg recvmmsg_time64
    """,
    "System V and POSIX IPC": """
        ipc msgget msgsnd msgrcv msgctl semget semop semtimedop semtimedop_time64 semctl
        shmget shmat shmdt shmctl mq_open mq_unlink mq_timedsend mq_timedsend_time64
        mq_timedreceive mq_timedreceive_time64 mq_notify mq_getsetattr
    """,
}


# ------------------------------------------------------------------ conditional groups


class Arg(NamedTuple):
    """One comparison of a syscall argument: ``args[index] <op> value`` (``masked``: the
    argument is ANDed with ``mask`` first)."""

    index: int
    op: str  # "==", "<", ">", "masked=="
    value: int
    mask: int = 0


_OPS = {"==": "SCMP_CMP_EQ", "<": "SCMP_CMP_LT", ">": "SCMP_CMP_GT",
        "masked==": "SCMP_CMP_MASKED_EQ"}


class Group(NamedTuple):
    """Syscalls allowed (or refused with ``errno``) when every condition holds.

    ``cap`` / ``without_cap``: the bounding set has / lacks that capability. ``arches`` /
    ``not_arches``: the native architecture is / is not one of these. ``kernel``: the
    running kernel is at least (major, minor). ``any_arg``: the call is allowed when one
    of these argument comparisons holds (each becomes its own rule).
    """

    why: str
    syscalls: str
    cap: str = ""
    without_cap: str = ""
    arches: tuple[str, ...] = ()
    not_arches: tuple[str, ...] = ()
    kernel: tuple[int, int] | None = None
    any_arg: tuple[Arg, ...] = ()
    errno: int | None = None  # refuse with this errno instead of allowing


GROUPS: tuple[Group, ...] = (
    Group("ptrace and cross-process memory access: safe from 4.8 on (seccomp bypass fixed)",
          "process_vm_readv process_vm_writev ptrace", kernel=(4, 8)),
    Group("socket(2) for every address family but AF_ALG and AF_VSOCK", "socket",
          any_arg=(Arg(0, "<", AF_ALG), Arg(0, "==", AF_ALG + 1), Arg(0, ">", AF_VSOCK))),
    Group("personality(2) only for the harmless personas", "personality",
          any_arg=tuple(Arg(0, "==", v) for v in (
              PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, PERSONALITY_QUERY))),
    # architecture-specific calls
    Group("powerpc", "sync_file_range2 swapcontext", arches=("ppc64le",)),
    Group("arm", "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint "
          "cacheflush set_tls", arches=("arm", "arm64")),
    Group("x86-64 thread state", "arch_prctl", arches=("amd64", "x32")),
    Group("x86 segment tables", "modify_ldt", arches=("amd64", "x32", "x86")),
    Group("s390", "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr",
          arches=("s390", "s390x")),
    Group("riscv", "riscv_flush_icache", arches=("riscv64",)),
    # what capabilities add
    Group("opening by file handle reads any inode", "open_by_handle_at",
          cap="CAP_DAC_READ_SEARCH"),
    Group("administration: mounts, namespaces, bpf, quotas, host and domain names, LSM",
          """bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie
          lsm_get_self_attr lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount
          open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns
          syslog umount umount2 unshare""", cap="CAP_SYS_ADMIN"),
    Group("clone(2) without namespace flags (flags are the first argument)", "clone",
          without_cap="CAP_SYS_ADMIN", not_arches=("s390", "s390x"),
          any_arg=(Arg(0, "masked==", 0, CLONE_NAMESPACES),)),
    Group("clone(2) without namespace flags (s390 passes flags second)", "clone",
          without_cap="CAP_SYS_ADMIN", arches=("s390", "s390x"),
          any_arg=(Arg(1, "masked==", 0, CLONE_NAMESPACES),)),
    Group("clone3(2) hides its flags in memory: ENOSYS makes libcs fall back to clone",
          "clone3", without_cap="CAP_SYS_ADMIN", errno=ENOSYS),
    Group("reboot", "reboot", cap="CAP_SYS_BOOT"),
    Group("chroot", "chroot", cap="CAP_SYS_CHROOT"),
    Group("kernel modules", "delete_module init_module finit_module", cap="CAP_SYS_MODULE"),
    Group("process accounting", "acct", cap="CAP_SYS_PACCT"),
    Group("tracing and inspecting other processes",
          "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
          cap="CAP_SYS_PTRACE"),
    Group("raw port I/O", "iopl ioperm", cap="CAP_SYS_RAWIO"),
    Group("setting the clock", "settimeofday stime clock_settime clock_settime64",
          cap="CAP_SYS_TIME"),
    Group("hanging up the terminal", "vhangup", cap="CAP_SYS_TTY_CONFIG"),
    Group("NUMA memory policy", "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
          cap="CAP_SYS_NICE"),
    Group("kernel log", "syslog", cap="CAP_SYSLOG"),
    Group("bpf without CAP_SYS_ADMIN", "bpf", cap="CAP_BPF"),
    Group("perf without CAP_SYS_ADMIN", "perf_event_open", cap="CAP_PERFMON"),
)


def _holds(g: Group, caps: frozenset[str], arch: str, kernel: tuple[int, int]) -> bool:
    if g.cap and g.cap not in caps:
        return False
    if g.without_cap and g.without_cap in caps:
        return False
    if g.arches and arch not in g.arches:
        return False
    if arch in g.not_arches:
        return False
    return g.kernel is None or kernel >= g.kernel


def _oci_arg(a: Arg) -> dict[str, Any]:
    if a.op == "masked==":
        return {"index": a.index, "value": a.mask, "valueTwo": a.value, "op": _OPS[a.op]}
    return {"index": a.index, "value": a.value, "op": _OPS[a.op]}


def generate(caps: Iterable[str], arch: str, kernel: str) -> dict[str, Any]:
    """The OCI ``linux.seccomp`` for a container.

    Args:
        caps: the container's bounding capabilities ("CAP_SYS_ADMIN", ...).
        arch: the native architecture in Go's spelling ("amd64").
        kernel: the kernel release ("6.1.0-18-amd64").

    Returns:
        ``{"defaultAction", "defaultErrnoRet", "architectures", "syscalls"}``.
    """
    have = frozenset(caps)
    kver = _kernel_tuple(kernel)
    allowed = sorted({name for text in ALWAYS.values() for name in text.split()})
    syscalls: list[dict[str, Any]] = [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]
    for g in GROUPS:
        if not _holds(g, have, arch, kver):
            continue
        names = g.syscalls.split()
        rule: dict[str, Any] = {"names": names, "action": "SCMP_ACT_ALLOW"}
        if g.errno is not None:
            rule = {"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": g.errno}
        if not g.any_arg:
            syscalls.append(rule)
        for a in g.any_arg:
            syscalls.append({**rule, "args": [_oci_arg(a)]})
    out: dict[str, Any] = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": EPERM}
    if arch in ARCHES:
        out["architectures"] = list(ARCHES[arch])
    out["syscalls"] = syscalls
    return out


_DIGEST: list[str] = []


def digest() -> str:
    """sha256 of the policy's data: changes whenever what it allows changes."""
    if not _DIGEST:
        data = json.dumps([ALWAYS, ARCHES, [list(g) for g in GROUPS]], sort_keys=True)
        _DIGEST.append(hashlib.sha256(data.encode()).hexdigest())
    return _DIGEST[0]
