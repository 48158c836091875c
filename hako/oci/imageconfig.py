"""Image config documents (OCI image config / Docker image JSON) and chain ids.

The config is kept as the parsed JSON dict (Docker's own shape: ``architecture``, ``os``,
``config`` {Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels,
StopSignal, Healthcheck, OnBuild, Shell}, ``rootfs.diff_ids``, ``history``, ``created``…).
The image id is the digest of the exact config bytes. Pure logic. Layer 2.
May import: errors, oci.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from typing import Any

from hako.errors import InvalidArgument
from hako.oci.digest import Digest

#: The keys of the ``config`` object (Docker's container config subset).
CONFIG_KEYS = (
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
    "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck",
    "ArgsEscaped", "Image", "Volumes", "WorkingDir", "Entrypoint", "OnBuild", "Labels",
    "StopSignal", "Shell",
)


def parse_config(data: bytes) -> dict[str, Any]:
    """Parse and validate image config bytes.

    Returns:
        The config dict; ``rootfs.diff_ids`` are checked to be digests.

    Raises:
        InvalidArgument: not JSON, or the rootfs section is malformed.
    """
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(f"invalid image config: {exc}") from exc
    if not isinstance(obj, dict):
        raise InvalidArgument("invalid image config: not an object")
    rootfs = obj.get("rootfs") or {"type": "layers", "diff_ids": []}
    if rootfs.get("type") != "layers":
        raise InvalidArgument(f"invalid image config: rootfs type {rootfs.get('type')!r}")
    for d in rootfs.get("diff_ids") or []:
        Digest.parse(d)
    return obj


def diff_ids(config: dict[str, Any]) -> list[Digest]:
    """The layer diff ids of a parsed config, bottom first."""
    return [Digest.parse(d) for d in (config.get("rootfs") or {}).get("diff_ids") or []]


def chain_ids(ids: Sequence[Digest]) -> list[Digest]:
    """Chain ids for a diff-id sequence: C0 = D0, Cn = sha256(Cn-1 + " " + Dn).

    Args:
        ids: diff ids, bottom layer first.

    Returns:
        One chain id per layer.
    """
    out: list[Digest] = []
    for d in ids:
        if not out:
            out.append(d)
        else:
            out.append(Digest.from_bytes(f"{out[-1]} {d}".encode()))
    return out


def chain_id(ids: Sequence[Digest]) -> Digest | None:
    """The chain id of the top layer, or None for an empty rootfs."""
    chain = chain_ids(ids)
    return chain[-1] if chain else None


def now_rfc3339() -> str:
    """The current UTC time in Docker's RFC 3339 form with nanoseconds."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def new_config(
    *,
    architecture: str,
    os_name: str = "linux",
    config: dict[str, Any] | None = None,
    diff_ids_: Sequence[Digest] = (),
    history: Sequence[dict[str, Any]] = (),
    created: str | None = None,
    author: str = "",
    comment: str = "",
    docker_version: str = "",
    variant: str = "",
) -> dict[str, Any]:
    """Build a new image config dict (Docker's key order)."""
    doc: dict[str, Any] = {"architecture": architecture}
    if author:
        doc["author"] = author
    if comment:
        doc["comment"] = comment
    doc["config"] = dict(config or {})
    doc["created"] = created or now_rfc3339()
    if docker_version:
        doc["docker_version"] = docker_version
    doc["history"] = [dict(h) for h in history]
    doc["os"] = os_name
    doc["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in diff_ids_]}
    if variant:
        doc["variant"] = variant
    return doc


def serialize(config: dict[str, Any]) -> bytes:
    """Compact JSON bytes of a config (the bytes whose digest is the image id)."""
    return json.dumps(config, separators=(",", ":")).encode()


def default_container_config() -> dict[str, Any]:
    """Docker's zero-valued container config object (as found in image JSON)."""
    return {
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
        "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
        "StdinOnce": False, "Env": None, "Cmd": None, "Image": "", "Volumes": None,
        "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
    }


def host_platform() -> tuple[str, str, str]:
    """(os, architecture, variant) of this host in OCI terms."""
    import platform as _platform

    machine = _platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
            "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)
    variant = {"armv7l": "v7", "armv6l": "v6", "aarch64": "v8"}.get(machine, "")
    return "linux", arch, variant
