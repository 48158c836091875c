"""HostConfig.SecurityOpt: moby's parseSecurityOpt, and what the container's spec gets from it.

Layer: daemon (6).

Accepted, as Docker: ``no-new-privileges`` (bare, or ``=true|false`` with Go's ParseBool
spellings), ``seccomp=unconfined``, ``seccomp=builtin`` (the default profile) and
``seccomp=<profile JSON>`` (the docker CLI reads ``seccomp=FILE`` client-side and sends the
file's content), ``label=disable``, ``apparmor=unconfined``; ``:`` is the legacy separator.
Other ``label=`` and ``apparmor=`` values are refused (hako has neither SELinux nor AppArmor
support and never ignores a setting silently); anything else gets Docker's
``invalid --security-opt`` texts. ``check(host_config)`` runs at create (400 on error),
``seccomp_profile(host_config)`` at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hako.errors import InvalidArgument

UNCONFINED = "unconfined"
BUILTIN = "builtin"
_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


@dataclass(frozen=True)
class SecurityOptions:
    seccomp: str = ""  # "" (the default profile), "unconfined", "builtin", or profile JSON
    no_new_privileges: bool = False


def parse(security_opt: list[str] | None) -> SecurityOptions:
    """moby's parseSecurityOpt.

    Raises:
        InvalidArgument: ``invalid --security-opt 1|2: "OPT"`` as Docker, or an option
            hako cannot honour.
    """
    seccomp, nnp = "", False
    for opt in security_opt or []:
        if not isinstance(opt, str):
            raise InvalidArgument(f"invalid --security-opt 1: {_go_quote(str(opt))}")
        if opt == "no-new-privileges":
            nnp = True
            continue
        if opt == "disable":  # the old spelling of label=disable
            continue
        if "=" in opt:
            key, value = opt.split("=", 1)
        elif ":" in opt:
            key, value = opt.split(":", 1)
        else:
            raise InvalidArgument(f"invalid --security-opt 1: {_go_quote(opt)}")
        if key == "seccomp":
            seccomp = value
        elif key == "no-new-privileges":
            if value not in _GO_TRUE | _GO_FALSE:
                raise InvalidArgument(f"invalid --security-opt 2: {_go_quote(opt)}")
            nnp = value in _GO_TRUE
        elif key == "label":
            if value != "disable":
                raise InvalidArgument(f"--security-opt {opt}: SELinux labels are not "
                                      "supported yet")
        elif key == "apparmor":
            if value != UNCONFINED:
                raise InvalidArgument(f"--security-opt {opt}: AppArmor profiles are not "
                                      "supported yet")
        else:
            raise InvalidArgument(f"invalid --security-opt 2: {_go_quote(opt)}")
    return SecurityOptions(seccomp=seccomp, no_new_privileges=nnp)


def _go_quote(text: str) -> str:
    """Go's %q for the printable ASCII texts options are."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def seccomp_profile(host_config: dict[str, Any]) -> dict[str, Any] | str | None:
    """What specgen's ``seccomp_profile`` gets: None (unconfined), "default", or the user's
    profile decoded (moby's WithSeccomp: privileged containers are unconfined).

    Raises:
        InvalidArgument: as ``parse``, or ``Decoding seccomp profile failed: ...``.
    """
    opts = parse(host_config.get("SecurityOpt"))
    if opts.seccomp == UNCONFINED or host_config.get("Privileged"):
        return None
    if opts.seccomp in ("", BUILTIN):
        return "default"
    from hako.runtime import seccomp

    return seccomp.parse_profile(opts.seccomp)


def check(host_config: dict[str, Any]) -> None:
    """Create-time validation: the options parse and a custom profile decodes and would
    compile for this container's capabilities.

    Raises:
        InvalidArgument: with Docker's text.
    """
    profile = seccomp_profile(host_config)
    if isinstance(profile, dict):
        from hako.runtime import capabilities, seccomp

        try:
            caps = capabilities.resolve_caps(
                capabilities.DEFAULT_CAPABILITIES, host_config.get("CapAdd") or (),
                host_config.get("CapDrop") or (), bool(host_config.get("Privileged")))
        except InvalidArgument:
            caps = list(capabilities.DEFAULT_CAPABILITIES)  # reported by the spec at start
        seccomp.docker_profile(profile, caps)


_SECCOMP_OK: list[bool] = []


def seccomp_supported() -> bool:
    """The kernel has seccomp filters and libseccomp (which hako-runtime compiles with) loads."""
    if not _SECCOMP_OK:
        ok = False
        try:
            with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
                ok = any(line.startswith("Seccomp:") for line in fh)
            ok = ok and _libseccomp_loads()
        except OSError:
            ok = False
        _SECCOMP_OK.append(ok)
    return _SECCOMP_OK[0]


def _libseccomp_loads() -> bool:
    import ctypes

    try:
        ctypes.CDLL("libseccomp.so.2")
    except OSError:
        return False
    return True


def info_options() -> list[str]:
    """``GET /info`` SecurityOptions: only what is true (Docker's order)."""
    out = []
    if seccomp_supported():
        out.append("name=seccomp,profile=builtin")
    # no "name=cgroupns": moby lists it when containers get a private cgroup namespace by
    # default; hako's default is the host's (HostConfig.CgroupnsMode "private" asks for one)
    return out
