"""Seccomp: the filter a container gets, compiled once to BPF and loaded in its init.

Layer: runtime (3). May import: errors, runtime.seccomp_policy.

Profiles (OCI ``linux.seccomp`` form, what the daemon writes into config.json):

- ``default_profile(caps, arch, kernel)``: hako's own default policy (``seccomp_policy``)
  for a container with bounding set ``caps``;
- ``docker_profile(profile, caps, arch, kernel)``: a user's profile in Docker's format
  (``--security-opt seccomp=<json>``), filtered exactly like moby's setupSeccomp: keep the
  native arch and its sub-arches from ``archMap``; keep a syscall group only when its
  ``includes`` (arches, caps in the bounding set, minimum kernel) hold and its
  ``excludes`` do not. ``parse_profile(text)`` decodes and checks one, with Docker's texts.

Filters (the runtime side):

- ``compile_bpf(seccomp)`` compiles an OCI dict with libseccomp (ctypes on
  libseccomp.so.2) into a classic BPF program, like runc: rules whose action equals the
  default action are skipped, syscalls unknown on this arch are skipped, conditions on the
  same argument index become separate rules;
- ``cached_bpf(seccomp, caps, cache_dir)`` returns that program from
  ``<cache_dir>/<digest>.bpf``, compiling and storing it on a miss; the digest covers the
  profile and the capability set, so libseccomp is only loaded the first time a given
  profile is used;
- ``load_bpf(prog)`` installs a program in the calling process (prctl PR_SET_SECCOMP). It
  does not set no_new_privs (the runtime decides that; without it, loading needs
  CAP_SYS_ADMIN). ``load_filter(seccomp)`` is compile + load.
"""

from __future__ import annotations

import os

from hako.errors import Internal, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ms on every runtime command; annotations only
    from typing import Any, Iterable

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "i386": "386",
            "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
            "mips64": "mips64", "loongarch64": "loong64"}
# moby's nativeToSeccomp: which archMap entry applies on a native architecture
_NATIVE = {"x86": "SCMP_ARCH_X86", "amd64": "SCMP_ARCH_X86_64", "arm": "SCMP_ARCH_ARM",
           "arm64": "SCMP_ARCH_AARCH64", "mips64": "SCMP_ARCH_MIPS64",
           "mips64n32": "SCMP_ARCH_MIPS64N32", "mipsel64": "SCMP_ARCH_MIPSEL64",
           "mips3l64n32": "SCMP_ARCH_MIPSEL64N32", "mipsle": "SCMP_ARCH_MIPSEL",
           "ppc": "SCMP_ARCH_PPC", "ppc64": "SCMP_ARCH_PPC64", "ppc64le": "SCMP_ARCH_PPC64LE",
           "riscv64": "SCMP_ARCH_RISCV64", "s390": "SCMP_ARCH_S390", "s390x": "SCMP_ARCH_S390X",
           "loong64": "SCMP_ARCH_LOONGARCH64"}


def host_arch() -> str:
    """The host architecture in Go's spelling ("amd64", "arm64"), as profiles use it."""
    machine = os.uname().machine
    return _GO_ARCH.get(machine, machine)


def _kernel_tuple(release: str) -> tuple[int, int]:
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def default_profile(caps: Iterable[str], arch: str | None = None,
                    kernel: str | None = None) -> dict[str, Any]:
    """hako's default policy for a container, in OCI ``linux.seccomp`` form.

    Args:
        caps: the container's bounding capabilities ("CAP_SYS_ADMIN", ...).
        arch: Go-style architecture ("amd64"); default the host's.
        kernel: kernel release for kernel-version conditions; default the running one.
    """
    from hako.runtime import seccomp_policy

    return seccomp_policy.generate(caps, arch or host_arch(), kernel or os.uname().release)


def parse_profile(text: str) -> dict[str, Any]:
    """Decode a Docker-format profile (the JSON ``--security-opt seccomp=`` carries).

    Raises:
        InvalidArgument: not a JSON object, or a field of the wrong type, with Docker's
            ``Decoding seccomp profile failed: ...``.
    """
    import json

    try:
        profile = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"Decoding seccomp profile failed: {_json_error(text, exc)}") \
            from None
    if not isinstance(profile, dict):
        raise InvalidArgument("Decoding seccomp profile failed: json: cannot unmarshal "
                              f"{_go_type(profile)} into Go value of type seccomp.Seccomp")
    _check_types(profile)
    return profile


def _json_error(text: str, exc: ValueError) -> str:
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        return "unexpected end of JSON input"
    first = stripped[0]
    if first not in '{["-0123456789tfn':
        return f"invalid character {first!r} looking for beginning of value"
    return str(exc)


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_FIELD_TYPES = {"defaultAction": str, "defaultErrnoRet": int, "architectures": list,
                "archMap": list, "syscalls": list, "flags": list, "listenerPath": str,
                "listenerMetadata": str}
_CALL_TYPES = {"name": str, "names": list, "action": str, "errnoRet": int, "args": list,
               "comment": str, "includes": dict, "excludes": dict}


def _check_types(profile: dict[str, Any]) -> None:
    def bad(value: Any, field: str, want: str) -> InvalidArgument:
        return InvalidArgument(f"Decoding seccomp profile failed: json: cannot unmarshal "
                               f"{_go_type(value)} into Go struct field {field} of type {want}")

    go = {str: "string", int: "uint", list: "[]", dict: "struct"}
    for key, typ in _FIELD_TYPES.items():
        value = profile.get(key)
        if value is not None and (not isinstance(value, typ) or isinstance(value, bool)):
            raise bad(value, f"Seccomp.{key}", go[typ])
    for call in profile.get("syscalls") or []:
        if not isinstance(call, dict):
            raise bad(call, "Seccomp.syscalls", "seccomp.Syscall")
        for key, typ in _CALL_TYPES.items():
            value = call.get(key)
            if value is not None and (not isinstance(value, typ) or isinstance(value, bool)):
                raise bad(value, f"Syscall.{key}", go[typ])
        for arg in call.get("args") or []:
            if not isinstance(arg, dict) or not isinstance(arg.get("index", 0), int) \
                    or not isinstance(arg.get("value", 0), int) \
                    or not isinstance(arg.get("valueTwo", 0), int) \
                    or not isinstance(arg.get("op", ""), str):
                raise bad(arg, "Syscall.args", "specs.LinuxSeccompArg")


def docker_profile(profile: dict[str, Any], caps: Iterable[str], arch: str | None = None,
                   kernel: str | None = None) -> dict[str, Any] | None:
    """A Docker-format profile filtered for a container (moby's setupSeccomp).

    Returns:
        The OCI ``linux.seccomp`` dict, or None when the profile has neither a default
        action nor syscalls (Docker then runs the container unconfined).

    Raises:
        InvalidArgument: ``architectures`` with ``archMap``, ``name`` with ``names``, or an
            unknown action, operator or architecture (checked like the runtime would).
    """
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidArgument("both 'architectures' and 'archMap' are specified in the seccomp "
                              "profile, use either 'architectures' or 'archMap'")
    arch = arch or host_arch()
    bounding = set(caps)
    kver = _kernel_tuple(kernel or os.uname().release)
    out: dict[str, Any] = {"defaultAction": profile.get("defaultAction") or ""}
    for key in ("defaultErrnoRet", "listenerPath", "listenerMetadata", "flags"):
        if profile.get(key) is not None:
            out[key] = profile[key]
    arches = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if isinstance(entry, dict) and entry.get("architecture") == _NATIVE.get(arch):
            arches = [entry["architecture"], *(entry.get("subArchitectures") or [])]
            break
    if arches:
        out["architectures"] = arches
    syscalls = []
    for call in profile.get("syscalls") or []:
        names = list(call.get("names") or [])
        if call.get("name"):
            if names:
                raise InvalidArgument("both 'name' and 'names' are specified in the seccomp "
                                      "profile, use either 'name' or 'names'")
            names = [call["name"]]
        if _selected(call, arch, bounding, kver):
            new: dict[str, Any] = {"names": names, "action": call.get("action") or ""}
            for key in ("errnoRet", "args"):
                if call.get(key) is not None:
                    new[key] = [dict(a) for a in call[key]] if key == "args" else call[key]
            syscalls.append(new)
    out["syscalls"] = syscalls
    validate(out)
    return out


def _selected(call: dict[str, Any], arch: str, caps: set[str], kver: tuple[int, int]) -> bool:
    exc, inc = call.get("excludes") or {}, call.get("includes") or {}
    if arch in (exc.get("arches") or []):
        return False
    if any(c in caps for c in exc.get("caps") or []):
        return False
    if exc.get("minKernel") and kver >= _min_kernel(exc["minKernel"]):
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if any(c not in caps for c in inc.get("caps") or []):
        return False
    if inc.get("minKernel") and kver < _min_kernel(inc["minKernel"]):
        return False
    return True


def _min_kernel(text: Any) -> tuple[int, int]:
    parts = str(text).split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise InvalidArgument(f"invalid kernel version: {text}")
    return int(parts[0]), int(parts[1])


def validate(seccomp: dict[str, Any]) -> None:
    """Check an OCI ``linux.seccomp`` for what the filter compiler would refuse.

    Raises:
        InvalidArgument: an unknown action, operator or architecture.
    """
    action_value(seccomp.get("defaultAction") or "", seccomp.get("defaultErrnoRet"))
    for arch in seccomp.get("architectures") or []:
        if arch not in _ARCH_NAMES:
            raise InvalidArgument(f"unknown seccomp architecture {arch!r}")
    for call in seccomp.get("syscalls") or []:
        action_value(call.get("action") or "", call.get("errnoRet"))
        rule_conditions(call.get("args"))


# ------------------------------------------------------------------ compiling (libseccomp)

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
               "SCMP_ARCH_PPC64LE": "ppc64le", "SCMP_ARCH_PPC64": "ppc64",
               "SCMP_ARCH_PPC": "ppc", "SCMP_ARCH_S390X": "s390x",
               "SCMP_ARCH_S390": "s390", "SCMP_ARCH_RISCV64": "riscv64",
               "SCMP_ARCH_MIPS64": "mips64", "SCMP_ARCH_MIPS": "mips",
               "SCMP_ARCH_MIPS64N32": "mips64n32", "SCMP_ARCH_MIPSEL64": "mipsel64",
               "SCMP_ARCH_MIPSEL": "mipsel", "SCMP_ARCH_MIPSEL64N32": "mipsel64n32",
               "SCMP_ARCH_LOONGARCH64": "loongarch64"}
_FLTATR_CTL_NNP = 3
_NR_SCMP_ERROR = -1
_EPERM = 1
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def action_value(name: str, errno_ret: int | None = None) -> int:
    """libseccomp action value for an OCI action name (ERRNO/TRACE carry ``errno_ret``).

    Raises:
        InvalidArgument: unknown action.
    """
    if name not in _ACTIONS:
        raise InvalidArgument(f"unknown seccomp action {name!r}")
    value = _ACTIONS[name]
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
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
        if arg.get("op") not in _OPS:
            raise InvalidArgument(f"unknown seccomp operator {arg.get('op')!r}")
        conds.append((arg.get("index", 0), _OPS[arg["op"]], arg.get("value", 0),
                      arg.get("valueTwo", 0)))
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
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.c_void_p]
    return lib


def compile_bpf(seccomp: dict[str, Any]) -> bytes:
    """Compile an OCI ``linux.seccomp`` dict into a classic BPF program (sock_filter array).

    Raises:
        InvalidArgument: an unknown action, operator or architecture in the profile.
        Internal: libseccomp is missing or refused the filter (errno in the message).
    """
    import ctypes

    class ArgCmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]

    if not seccomp.get("defaultAction"):
        raise InvalidArgument("seccomp: the profile has no defaultAction")
    validate(seccomp)
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
            token = lib.seccomp_arch_resolve_name(_ARCH_NAMES[arch].encode())
            rc = lib.seccomp_arch_add(ctx, token)
            if rc != -17:  # -EEXIST: the native arch is already there
                _check(rc, f"arch_add {arch}")
        for call in seccomp.get("syscalls") or []:
            action = action_value(call["action"], call.get("errnoRet"))
            if action == default:
                continue
            rules = rule_conditions(call.get("args"))
            for name in call.get("names") or []:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == _NR_SCMP_ERROR:
                    continue  # not a syscall on this architecture
                for conds in rules:
                    arr = (ArgCmp * max(len(conds), 1))(*[ArgCmp(*c) for c in conds])
                    _check(lib.seccomp_rule_add_array(ctx, action, nr, len(conds), arr),
                           f"rule_add {name}")
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            _check(lib.seccomp_export_bpf(ctx, fd), "export_bpf")
            size = os.lseek(fd, 0, os.SEEK_END)
            prog = os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)
    if not prog or len(prog) % 8:
        raise Internal(f"seccomp: libseccomp exported a {len(prog)}-byte program")
    return prog


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise Internal(f"seccomp: {what}: {os.strerror(-rc)}")


def cache_key(seccomp: dict[str, Any], caps: Iterable[str]) -> str:
    """The digest naming a compiled filter: the profile (canonical JSON) and the caps."""
    import json

    try:
        from _blake2 import blake2b  # hashlib pulls in OpenSSL: milliseconds per start
    except ImportError:  # pragma: no cover - every CPython build has _blake2
        from hashlib import blake2b
    doc = json.dumps([seccomp, sorted(caps)], sort_keys=True, separators=(",", ":"))
    return blake2b(doc.encode(), digest_size=32).hexdigest()


def cached_bpf(seccomp: dict[str, Any], caps: Iterable[str], cache_dir: str) -> bytes:
    """The compiled program for ``seccomp``, from ``cache_dir`` or compiled and stored there.

    The directory is created 0700; a cache directory or file that is not ours (owner,
    group/world-writable) is never trusted: the program is compiled afresh.

    Raises:
        InvalidArgument, Internal: as ``compile_bpf``.
    """
    path = os.path.join(cache_dir, cache_key(seccomp, caps) + ".bpf")
    trusted = _trusted_dir(cache_dir)
    if trusted:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            fd = -1
        if fd >= 0:
            try:
                st = os.fstat(fd)
                if st.st_uid == os.geteuid() and not st.st_mode & 0o022:
                    prog = os.read(fd, st.st_size + 1)
                    if prog and len(prog) == st.st_size and not len(prog) % 8:
                        return prog
            finally:
                os.close(fd)
    prog = compile_bpf(seccomp)
    if trusted:
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, prog)
            finally:
                os.close(fd)
            os.rename(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return prog


def _trusted_dir(path: str) -> bool:
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    import stat

    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077


def prepare_load(prog: bytes) -> Any:
    """Build the ctypes objects ``load_bpf`` needs (call before fork, before pivot_root).

    Returns:
        An opaque object for ``load_bpf``.
    """
    import ctypes

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = SockFprog(len(prog) // 8, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    return (libc, buf, fprog, ctypes.c_ulong(ctypes.addressof(fprog)), ctypes)


def load_bpf(prepared: Any) -> None:
    """Install a program from ``prepare_load`` in the calling process.

    Raises:
        OSError: the kernel refused it (EACCES: neither no_new_privs nor CAP_SYS_ADMIN).
    """
    libc, _buf, _fprog, addr, ctypes = prepared
    ul = ctypes.c_ulong
    if libc.prctl(_PR_SET_SECCOMP, ul(_SECCOMP_MODE_FILTER), addr, ul(0), ul(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"loading the seccomp filter: {os.strerror(err)}")


def load_filter(seccomp: dict[str, Any]) -> None:
    """Compile the OCI ``linux.seccomp`` dict and load it into the calling process.

    Raises:
        InvalidArgument, Internal: as ``compile_bpf``. OSError: as ``load_bpf``.
    """
    load_bpf(prepare_load(compile_bpf(seccomp)))
