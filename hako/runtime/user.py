"""Process attributes applied in the init just before execve: rlimits, user, cwd, and the
lookup of args[0] in the container's PATH (Go's exec.LookPath semantics, as runc uses).

Layer: runtime (3). May import: errors, linux.
"""

from __future__ import annotations

import os
import stat

from hako.errors import InvalidArgument

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ExecError(Exception):
    """args[0] cannot be executed; ``str()`` is runc's text (the daemon maps it to 126/127)."""


def _is_executable(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return not stat.S_ISDIR(st.st_mode) and os.access(path, os.X_OK)


def look_path(name: str, env: list[str]) -> str:
    """Resolve ``name`` like Go's exec.LookPath with the PATH from ``env``.

    Args:
        name: process.args[0].
        env: process.env ("K=V" strings).
    Returns:
        The path to execve.
    Raises:
        ExecError: ``exec: "NAME": executable file not found in $PATH``,
            ``exec: "NAME": stat NAME: no such file or directory`` or
            ``exec: "NAME": permission denied``.
    """
    if "/" in name:
        try:
            st = os.stat(name)
        except FileNotFoundError:
            raise ExecError(f'exec: "{name}": stat {name}: no such file or directory') from None
        except OSError as exc:
            raise ExecError(f'exec: "{name}": stat {name}: {exc.strerror.lower()}') from None
        if stat.S_ISDIR(st.st_mode) or not os.access(name, os.X_OK):
            raise ExecError(f'exec: "{name}": permission denied')
        return name
    path = DEFAULT_PATH
    for item in env:
        if item.startswith("PATH="):
            path = item[5:]
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if _is_executable(candidate):
            return candidate
    raise ExecError(f'exec: "{name}": executable file not found in $PATH')


def apply_rlimits(rlimits: list[dict]) -> None:
    """setrlimit for each process.rlimits entry.

    Raises:
        InvalidArgument: unknown rlimit type.
        OSError: ``error setting rlimit type N: operation not permitted`` (never ignored).
    """
    import resource

    for item in rlimits or []:
        name = item.get("type", "")
        number = getattr(resource, name, None) if name.startswith("RLIMIT_") else None
        if number is None:
            raise InvalidArgument(f"unknown rlimit type {name!r}")
        try:
            resource.setrlimit(number, (_rlim(item.get("soft", 0)), _rlim(item.get("hard", 0))))
        except (OSError, ValueError, OverflowError) as exc:
            err = getattr(exc, "errno", None) or 1
            raise OSError(err, f"error setting rlimit type {number}: "
                               f"{os.strerror(err).lower()}") from None


def _rlim(value) -> int:
    """A spec rlimit (uint64) as setrlimit takes it: a C long long, cast to rlim_t by the
    kernel, so 2**64-1 (RLIM_INFINITY, "unlimited") is -1."""
    value = int(value)
    return value - (1 << 64) if value >= 1 << 63 else value


def switch_user(user: dict, keep_caps: bool = True) -> None:
    """setgroups, setgid, setuid (keeping capabilities across setuid), umask.

    Raises:
        OSError: the kernel refused one of the calls.
    """
    from hako.linux import syscalls

    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    if keep_caps:
        syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 1)
    os.setgroups([int(g) for g in user.get("additionalGids") or []])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    umask = user.get("umask")
    os.umask(0o022 if umask is None else int(umask))


def create_cwd(cwd: str) -> None:
    """Create ``cwd`` if missing, as Docker does for WorkingDir (before root goes read-only).

    Raises:
        InvalidArgument: cwd is not absolute.
        OSError: it could not be created.
    """
    if not cwd.startswith("/"):
        raise InvalidArgument(f"cwd {cwd!r} must be an absolute path")
    os.makedirs(cwd, mode=0o755, exist_ok=True)


def enter_cwd(cwd: str) -> None:
    """chdir into ``cwd``. Raises OSError (e.g. ENOENT for an exec with a missing --cwd)."""
    os.chdir(cwd)


def parse_user_flag(text: str) -> dict:
    """Parse exec's ``--user UID[:GID]``.

    Raises:
        InvalidArgument: not numeric.
    """
    uid, _, gid = text.partition(":")
    try:
        return {"uid": int(uid), "gid": int(gid) if gid else 0}
    except ValueError:
        raise InvalidArgument(f"invalid --user {text!r}: want UID[:GID]") from None
