"""Linux capabilities: names ↔ numbers, Docker's add/drop rules, and applying the OCI sets.

Layer: runtime (3). May import: errors, linux.

``resolve_caps`` is policy (Docker's TweakCapabilities); ``apply_capabilities`` is run by the
runtime in the container's init process, after it switched user with PR_SET_KEEPCAPS set:

1. raise the effective set to the permitted one (setuid cleared it), so CAP_SETPCAP works;
2. drop from the bounding set every capability not listed (PR_CAPBSET_DROP);
3. capset effective / permitted / inheritable (_LINUX_CAPABILITY_VERSION_3);
4. clear the ambient set and raise each listed ambient capability (PR_CAP_AMBIENT).

Capabilities the running kernel does not know (above /proc/sys/kernel/cap_last_cap) are
skipped, as runc does.
"""

from __future__ import annotations

from typing import Iterable

from hako.errors import InvalidArgument

CAPABILITIES: dict[str, int] = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}
CAP_NAMES: dict[int, str] = {v: k for k, v in CAPABILITIES.items()}

# Docker's default set (moby oci/caps/defaults.go), in Docker's order.
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)

ALL = "ALL"
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_PR_CAP_AMBIENT_CLEAR_ALL = 4


def last_cap(proc_file: str = "/proc/sys/kernel/cap_last_cap") -> int:
    """The highest capability number the running kernel knows (40 on 5.9+)."""
    try:
        with open(proc_file, "rb") as fh:  # binary: no codec import after pivot_root/setuid
            return int(fh.read())
    except (OSError, ValueError):
        return max(CAP_NAMES)


def all_capabilities(last: int | None = None) -> list[str]:
    """Every capability name the kernel knows, in number order.

    On the running kernel (``last`` not given) the list is also limited to this process's
    bounding set: a capability the engine itself cannot hold (e.g. CAP_SYS_RESOURCE on a host
    that dropped it) cannot be granted, and asking for it makes capset fail with EPERM.

    Args:
        last: highest known number; defaults to the running kernel's ``last_cap()``.
    """
    top = last_cap() if last is None else last
    bounding = _own_bounding_set() if last is None else -1
    return [CAP_NAMES[n] for n in sorted(CAP_NAMES) if n <= top and bounding & (1 << n)]


def _own_bounding_set() -> int:
    """CapBnd of this process as a bit mask (all bits when unreadable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return -1


def cap_number(name: str) -> int:
    """Number of a capability given as "CAP_X", "x" or "X".

    Raises:
        InvalidArgument: the name is not a capability (Docker's ``unknown capability`` text).
    """
    return CAPABILITIES[normalize_cap(name)]


def normalize_cap(name: str) -> str:
    """Upper-case and add the CAP_ prefix; "ALL" stays "ALL".

    Raises:
        InvalidArgument: the name is not a known capability.
    """
    upper = name.strip().upper()
    if upper == ALL:
        return ALL
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    if upper not in CAPABILITIES:
        raise InvalidArgument(f'unknown capability: "{upper}"')
    return upper


def resolve_caps(base: Iterable[str], add: Iterable[str], drop: Iterable[str],
                 privileged: bool, last: int | None = None) -> list[str]:
    """Docker's TweakCapabilities: the capability list a container gets.

    Args:
        base: starting set (normally ``DEFAULT_CAPABILITIES``).
        add: --cap-add values ("ALL", names with or without CAP_, any case).
        drop: --cap-drop values, same forms.
        privileged: --privileged: every capability the kernel knows.
        last: highest kernel capability number (for tests); default the running kernel's.

    Returns:
        Capability names ("CAP_X"), without duplicates.

    Raises:
        InvalidArgument: an add or drop value names no capability.
    """
    add_n = [normalize_cap(c) for c in add]
    drop_n = [normalize_cap(c) for c in drop]
    if privileged:
        return all_capabilities(last)
    if not add_n and not drop_n:
        return list(dict.fromkeys(base))
    if ALL in add_n:
        caps = [c for c in all_capabilities(last) if c not in drop_n]
    elif ALL in drop_n:
        caps = list(add_n)
    else:
        caps = [c for c in base if c not in drop_n] + add_n
    return list(dict.fromkeys(caps))


def caps_to_mask(names: Iterable[str], last: int | None = None) -> int:
    """Bit mask of the named capabilities the kernel knows (unknown-to-kernel ones dropped).

    Raises:
        InvalidArgument: a name is not a capability at all.
    """
    top = last_cap() if last is None else last
    mask = 0
    for name in names:
        number = cap_number(name)
        if number <= top:
            mask |= 1 << number
    return mask


def mask_to_caps(mask: int) -> list[str]:
    """Capability names set in ``mask`` (as in /proc/<pid>/status CapEff)."""
    return [CAP_NAMES[n] for n in sorted(CAP_NAMES) if mask & (1 << n)]


def apply_capabilities(caps: dict[str, list[str]]) -> None:
    """Apply OCI ``process.capabilities`` to the calling (single-threaded) process.

    Args:
        caps: ``{"bounding": [...], "effective": [...], "permitted": [...],
            "inheritable": [...], "ambient": [...]}``; a missing set is empty.

    Raises:
        InvalidArgument: a name is not a capability.
        OSError: the kernel refused (e.g. CAP_SETPCAP missing for the bounding drop).
    """
    from hako.linux import syscalls

    top = last_cap()
    bounding = caps_to_mask(caps.get("bounding") or [], top)
    effective = caps_to_mask(caps.get("effective") or [], top)
    permitted = caps_to_mask(caps.get("permitted") or [], top)
    inheritable = caps_to_mask(caps.get("inheritable") or [], top)
    ambient = caps_to_mask(caps.get("ambient") or [], top)

    _, cur_perm, cur_inh = syscalls.capget()
    syscalls.capset(cur_perm, cur_perm, cur_inh)  # setuid cleared effective; restore it
    for number in range(top + 1):
        if not bounding & (1 << number):
            syscalls.prctl(_PR_CAPBSET_DROP, number)  # fails closed without CAP_SETPCAP
    syscalls.capset(effective, permitted, inheritable)
    syscalls.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    for number in range(top + 1):
        if ambient & (1 << number):
            try:
                syscalls.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, number)
            except OSError:
                # Like runc: a cap missing from the inheritable set cannot be ambient; the
                # kernel refuses (EPERM) and runc only warns, so `runc spec` bundles run.
                pass
