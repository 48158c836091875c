"""Seccomp: Docker's default profile filtered for a container, and loading an OCI filter.

Layer: runtime (3). May import: errors.

``default_profile(caps, arch)`` turns Docker's profile (moby profiles/seccomp/default.json,
a copy of which ships as ``seccomp_default.json`` next to this module; path injectable) into OCI
``linux.seccomp`` form exactly like moby's setupSeccomp: keep the native arch and its
sub-arches from ``archMap``; keep a syscall group only when its ``includes`` (arches, caps
in the bounding set, minimum kernel) hold and its ``excludes`` do not.

``load_filter(seccomp)`` compiles an OCI ``linux.seccomp`` dict with libseccomp
(ctypes on libseccomp.so.2) and loads it into the calling process, like runc: rules whose
action equals the default action are skipped, syscalls unknown on this arch are skipped,
conditions on the same argument index become separate rules. It does not set
no_new_privs (the runtime decides that; without it, loading needs CAP_SYS_ADMIN).
"""

from __future__ import annotations

import copy
import json
import os
import platform
from typing import Any, Iterable

from hako.errors import Internal, InvalidArgument

DEFAULT_PROFILE_PATH = os.path.join(os.path.dirname(__file__), "seccomp_default.json")

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "i386": "386",
            "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
            "mips64": "mips64", "mips64el": "mips64le"}
_NATIVE = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "386": "SCMP_ARCH_X86",
           "arm": "SCMP_ARCH_ARM", "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
           "riscv64": "SCMP_ARCH_RISCV64", "mips64": "SCMP_ARCH_MIPS64",
           "mips64le": "SCMP_ARCH_MIPSEL64"}


def host_arch() -> str:
    """The host architecture in Go's spelling ("amd64", "arm64"), as the profile uses it."""
    machine = platform.machine()
    return _GO_ARCH.get(machine, machine)


def _kernel_tuple(release: str) -> tuple[int, int]:
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def load_docker_profile(path: str = DEFAULT_PROFILE_PATH) -> dict[str, Any]:
    """Read Docker's seccomp profile JSON.

    Raises:
        InvalidArgument: the file is missing or not JSON.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"failed to read seccomp profile {path}: {exc}") from exc


def default_profile(caps: Iterable[str], arch: str | None = None, *,
                    profile: dict[str, Any] | None = None,
                    kernel: str | None = None) -> dict[str, Any]:
    """Docker's default profile filtered for a container, in OCI ``linux.seccomp`` form.

    Args:
        caps: the container's bounding capabilities ("CAP_SYS_ADMIN", ...).
        arch: Go-style architecture ("amd64"); default the host's.
        profile: a Docker-format profile; default ``load_docker_profile()``.
        kernel: kernel release for minKernel checks; default the running kernel's.

    Returns:
        ``{"defaultAction", "defaultErrnoRet", "architectures", "syscalls"}``.
    """
    src = load_docker_profile() if profile is None else profile
    arch = arch or host_arch()
    bounding = set(caps)
    kver = _kernel_tuple(kernel or os.uname().release)
    out: dict[str, Any] = {"defaultAction": src["defaultAction"]}
    if src.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = src["defaultErrnoRet"]
    for entry in src.get("archMap") or []:
        if entry["architecture"] == _NATIVE.get(arch):
            out["architectures"] = [entry["architecture"], *entry.get("subArchitectures", [])]
            break
    syscalls = []
    for call in src.get("syscalls") or []:
        if _selected(call, arch, bounding, kver):
            new = {"names": list(call["names"]), "action": call["action"]}
            for key in ("errnoRet", "args"):
                if call.get(key) is not None:
                    new[key] = copy.deepcopy(call[key])
            syscalls.append(new)
    out["syscalls"] = syscalls
    return out


def _selected(call: dict[str, Any], arch: str, caps: set[str], kver: tuple[int, int]) -> bool:
    exc, inc = call.get("excludes") or {}, call.get("includes") or {}
    if arch in (exc.get("arches") or []):
        return False
    if any(c in caps for c in exc.get("caps") or []):
        return False
    if exc.get("minKernel") and kver >= _kernel_tuple(exc["minKernel"]):
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if any(c not in caps for c in inc.get("caps") or []):
        return False
    if inc.get("minKernel") and kver < _kernel_tuple(inc["minKernel"]):
        return False
    return True


# ------------------------------------------------------------------ loading (libseccomp)

_ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000, "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
        "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
_ARCH_NAMES = {"SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X32": "x32",
               "SCMP_ARCH_AARCH64": "aarch64", "SCMP_ARCH_ARM": "arm",
               "SCMP_ARCH_PPC64LE": "ppc64le", "SCMP_ARCH_S390X": "s390x",
               "SCMP_ARCH_S390": "s390", "SCMP_ARCH_RISCV64": "riscv64",
               "SCMP_ARCH_MIPS64": "mips64", "SCMP_ARCH_MIPS": "mips",
               "SCMP_ARCH_MIPS64N32": "mips64n32", "SCMP_ARCH_MIPSEL64": "mipsel64"}
_FLTATR_CTL_NNP = 3
_NR_SCMP_ERROR = -1
_EPERM = 1


def action_value(name: str, errno_ret: int | None = None) -> int:
    """libseccomp action value for an OCI action name (ERRNO/TRACE carry ``errno_ret``).

    Raises:
        InvalidArgument: unknown action.
    """
    if name not in _ACTIONS:
        raise InvalidArgument(f"unknown seccomp action {name!r}")
    value = _ACTIONS[name]
    if name == "SCMP_ACT_ERRNO":
        value |= (_EPERM if errno_ret is None else errno_ret) & 0xFFFF
    elif name == "SCMP_ACT_TRACE":
        value |= (_EPERM if errno_ret is None else errno_ret) & 0xFFFF
    return value


def rule_conditions(args: list[dict[str, Any]] | None) -> list[list[tuple[int, int, int, int]]]:
    """Group OCI arg conditions into rules like runc: one rule with every condition, or one
    rule per condition when an argument index appears twice.

    Returns:
        A list of rules, each a list of (index, op, datum_a, datum_b).

    Raises:
        InvalidArgument: unknown comparison operator.
    """
    if not args:
        return [[]]
    conds = []
    for arg in args:
        if arg["op"] not in _OPS:
            raise InvalidArgument(f"unknown seccomp operator {arg['op']!r}")
        conds.append((arg["index"], _OPS[arg["op"]], arg.get("value", 0), arg.get("valueTwo", 0)))
    indexes = [c[0] for c in conds]
    if len(set(indexes)) != len(indexes):
        return [[c] for c in conds]
    return [conds]


def _libseccomp():
    import ctypes

    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.c_void_p]
    return lib


def load_filter(seccomp: dict[str, Any]) -> None:
    """Compile the OCI ``linux.seccomp`` dict and load it into the calling process.

    Raises:
        InvalidArgument: an unknown action, operator or architecture in the profile.
        Internal: libseccomp is missing or refused the filter (errno in the message).
    """
    import ctypes

    class ArgCmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]

    try:
        lib = _libseccomp()
    except OSError as exc:
        raise Internal(f"seccomp: libseccomp.so.2 not available: {exc}") from exc
    default = action_value(seccomp["defaultAction"], seccomp.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise Internal("seccomp: seccomp_init failed")
    try:
        _check(lib.seccomp_attr_set(ctx, _FLTATR_CTL_NNP, 0), "attr_set NNP")
        for arch in seccomp.get("architectures") or []:
            if arch not in _ARCH_NAMES:
                raise InvalidArgument(f"unknown seccomp architecture {arch!r}")
            token = lib.seccomp_arch_resolve_name(_ARCH_NAMES[arch].encode())
            rc = lib.seccomp_arch_add(ctx, token)
            if rc != -17:  # -EEXIST: the native arch is already there
                _check(rc, f"arch_add {arch}")
        for call in seccomp.get("syscalls") or []:
            action = action_value(call["action"], call.get("errnoRet"))
            if action == default:
                continue
            rules = rule_conditions(call.get("args"))
            for name in call["names"]:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == _NR_SCMP_ERROR:
                    continue  # not a syscall on this architecture
                for conds in rules:
                    arr = (ArgCmp * max(len(conds), 1))(*[ArgCmp(*c) for c in conds])
                    _check(lib.seccomp_rule_add_array(ctx, action, nr, len(conds), arr),
                           f"rule_add {name}")
        _check(lib.seccomp_load(ctx), "load")
    finally:
        lib.seccomp_release(ctx)


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise Internal(f"seccomp: {what}: {os.strerror(-rc)}")
