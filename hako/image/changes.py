"""``--change`` instructions (``docker import -c``, ``docker commit -c``) applied to a config.

Supported, like Docker: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER,
VOLUME, WORKDIR. Pure logic. Layer 4. May import: errors.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from hako.errors import InvalidArgument

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER",
           "VOLUME", "WORKDIR")


def _json_or_shell(rest: str) -> list[str]:
    text = rest.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
        except ValueError:
            pass
    return ["/bin/sh", "-c", text]


def _json_or_words(rest: str) -> list[str]:
    text = rest.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
            if isinstance(value, list):
                return [str(v) for v in value]
        except ValueError:
            pass
    return text.split()


def _pairs(rest: str, name: str) -> list[tuple[str, str]]:
    """``K=V K2="v 2"`` or the legacy ``K V`` form."""
    words = shlex.split(rest, posix=True)
    if not words:
        raise InvalidArgument(f"{name} requires at least one argument")
    if "=" not in words[0]:
        key, _, value = rest.strip().partition(" ")
        return [(key, value.strip())]
    out = []
    for word in words:
        if "=" not in word:
            raise InvalidArgument(f"Syntax error - can't find = in \"{word}\". Must be of the form: name=value")
        key, _, value = word.partition("=")
        out.append((key, value))
    return out


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """Return a copy of the ``config`` object (Docker's container config) with changes applied.

    Args:
        config: the image config's ``config`` object (Env, Cmd, …).
        changes: instruction lines such as ``CMD ["sh"]`` or ``ENV A=b``.

    Raises:
        InvalidArgument: ``<X> is not a valid change command`` or a malformed argument.
    """
    cfg = json.loads(json.dumps(config or {}))
    for line in changes:
        line = line.strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        cmd = word.upper()
        if cmd not in ALLOWED:
            raise InvalidArgument(f"{word} is not a valid change command")
        _apply_one(cfg, cmd, re.sub(r"^\s+", "", rest))
    return cfg


def _apply_one(cfg: dict[str, Any], cmd: str, rest: str) -> None:
    if cmd == "CMD":
        cfg["Cmd"] = _json_or_shell(rest)
    elif cmd == "ENTRYPOINT":
        cfg["Entrypoint"] = _json_or_shell(rest)
    elif cmd == "ENV":
        env = list(cfg.get("Env") or [])
        for key, value in _pairs(rest, "ENV"):
            env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
        cfg["Env"] = env
    elif cmd == "LABEL":
        labels = dict(cfg.get("Labels") or {})
        labels.update(dict(_pairs(rest, "LABEL")))
        cfg["Labels"] = labels
    elif cmd == "EXPOSE":
        ports = dict(cfg.get("ExposedPorts") or {})
        for p in rest.split():
            ports[p if "/" in p else f"{p}/tcp"] = {}
        cfg["ExposedPorts"] = ports
    elif cmd == "VOLUME":
        vols = dict(cfg.get("Volumes") or {})
        for v in _json_or_words(rest):
            vols[v] = {}
        cfg["Volumes"] = vols
    elif cmd == "ONBUILD":
        cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [rest.strip()]
    elif cmd == "USER":
        cfg["User"] = rest.strip()
    elif cmd == "WORKDIR":
        cfg["WorkingDir"] = rest.strip()
    elif cmd == "STOPSIGNAL":
        cfg["StopSignal"] = rest.strip()
