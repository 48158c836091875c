"""Registry credentials of the CLI: ``~/.docker/config.json`` (``auths`` with base64 ``auth``,
``credsStore``/``credHelpers`` programs ``docker-credential-<name>``), and the legacy
``~/.dockercfg`` read as a fallback; the ``X-Registry-Auth`` header value.

The directory is ``$DOCKER_CONFIG`` or ``~/.docker``, as the docker CLI. Client stack.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from typing import Any


INDEX_SERVER = "https://index.docker.io/v1/"


def config_dir(environ: Mapping[str, str]) -> str:
    return environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def server_key(server: str) -> str:
    """The key the docker CLI files a registry under (docker.io → its index URL)."""
    s = server.strip()
    for prefix in ("https://", "http://"):
        if s.startswith(prefix):
            s = s[len(prefix):]
    s = s.split("/")[0]
    if s in ("", "docker.io", "index.docker.io", "registry-1.docker.io"):
        return INDEX_SERVER
    return s


def registry_of(ref: str) -> str:
    first, sep, _ = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _load(environ: Mapping[str, str]) -> dict[str, Any]:
    path = os.path.join(config_dir(environ), "config.json")
    try:
        with open(path) as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def _legacy(environ: Mapping[str, str]) -> dict[str, Any]:
    try:
        with open(os.path.join(os.path.expanduser("~"), ".dockercfg")) as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def _helper(name: str, verb: str, payload: str) -> dict[str, Any] | None:
    import subprocess  # lazy here and in _save: every command imports this module

    try:
        res = subprocess.run([f"docker-credential-{name}", verb], input=payload.encode(),
                             capture_output=True, timeout=30)
    except OSError:
        return None
    if res.returncode != 0:
        return None
    try:
        return json.loads(res.stdout or b"{}")
    except ValueError:
        return {}


def lookup(environ: Mapping[str, str], server: str) -> dict[str, str] | None:
    """The AuthConfig for ``server`` ({username, password, serveraddress}) or None."""
    key = server_key(server)
    doc = _load(environ)
    helper = (doc.get("credHelpers") or {}).get(key) or doc.get("credsStore")
    if helper:
        got = _helper(helper, "get", key)
        if got and got.get("Username"):
            if got["Username"] == "<token>":
                return {"identitytoken": got.get("Secret", ""), "serveraddress": key}
            return {"username": got["Username"], "password": got.get("Secret", ""),
                    "serveraddress": key}
    for auths in (doc.get("auths") or {}, _legacy(environ)):
        entry = auths.get(key) or auths.get("https://" + key) or auths.get("http://" + key)
        if isinstance(entry, dict) and entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            return {"username": user, "password": password, "serveraddress": key}
    return None


def header(environ: Mapping[str, str], server: str) -> dict[str, str]:
    """``X-Registry-Auth`` for ``server`` (an empty AuthConfig when none is stored)."""
    cfg = lookup(environ, server) or {}
    return {"X-Registry-Auth": base64.urlsafe_b64encode(json.dumps(cfg).encode()).decode()}


def store(environ: Mapping[str, str], server: str, username: str, password: str) -> str:
    """Save credentials (a helper if configured, else base64 in ``auths``); returns the file."""
    key = server_key(server)
    doc = _load(environ)
    helper = (doc.get("credHelpers") or {}).get(key) or doc.get("credsStore")
    if helper:
        _helper(helper, "store", json.dumps({"ServerURL": key, "Username": username,
                                            "Secret": password}))
        doc.setdefault("auths", {})[key] = {}
    else:
        auth = base64.b64encode(f"{username}:{password}".encode()).decode()
        doc.setdefault("auths", {})[key] = {"auth": auth}
    return _save(environ, doc)


def erase(environ: Mapping[str, str], server: str) -> bool:
    key = server_key(server)
    doc = _load(environ)
    helper = (doc.get("credHelpers") or {}).get(key) or doc.get("credsStore")
    if helper:
        _helper(helper, "erase", key)
    found = key in (doc.get("auths") or {})
    if found:
        del doc["auths"][key]
        _save(environ, doc)
    return found


def _save(environ: Mapping[str, str], doc: dict[str, Any]) -> str:
    d = config_dir(environ)
    os.makedirs(d, mode=0o700, exist_ok=True)
    path = os.path.join(d, "config.json")
    from hako.support.atomicfile import write_bytes

    write_bytes(path, (json.dumps(doc, indent="\t") + "\n").encode(), mode=0o600)
    return path
