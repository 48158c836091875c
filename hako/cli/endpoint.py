"""Which daemon the CLI talks to: global flags, environment and contexts, as the docker CLI.

Resolution (docker's ``resolveContextName`` and ``resolveDockerEndpoint``):

1. ``--context`` with ``-H`` is an error ("conflicting options").
2. The context is ``--context``, else ``default`` when ``-H``, ``HAKO_HOST`` or ``DOCKER_HOST``
   is set, else ``DOCKER_CONTEXT``, else ``currentContext`` of ``config.json``, else ``default``.
3. ``default`` means ``-H`` / ``HAKO_HOST`` / ``DOCKER_HOST`` / hako's socket, with TLS from
   ``--tls*`` flags, ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` (default: the config dir).
   A named context is read from the context store.

Context store (docker's layout, so both CLIs share it), under ``$DOCKER_CONFIG`` or
``~/.docker``: ``contexts/meta/<sha256(name)>/meta.json`` holds
``{"Name", "Metadata": {"Description"}, "Endpoints": {"docker": {"Host", "SkipTLSVerify"}}}``;
``contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem`` its TLS material. Files are written
atomically. Client stack.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from hako import errors
from hako.cli.credentials import config_dir

DEFAULT_HOST = "unix:///run/hako/hako.sock"
DEFAULT_DESCRIPTION = "Current DOCKER_HOST based configuration"


class TLSConfig(NamedTuple):
    """Client TLS: ``verify`` checks the daemon's certificate against ``ca``."""

    verify: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None


class GlobalOptions(NamedTuple):
    """The docker CLI's global flags, as given on the command line (None: not given)."""

    hosts: tuple[str, ...] = ()
    context: str | None = None
    config: str | None = None
    debug: bool = False
    log_level: str | None = None
    tls: bool = False
    tlsverify: bool | None = None
    tlscacert: str | None = None
    tlscert: str | None = None
    tlskey: str | None = None


class Endpoint(NamedTuple):
    context: str
    host: str
    tls: TLSConfig | None = None


class ContextNotFound(errors.NotFound):
    pass


def context_dirs(environ: Mapping[str, str], name: str) -> tuple[str, str]:
    """(meta dir, tls dir) of context ``name``."""
    import hashlib  # lazy here and below: every command starts through this module

    digest = hashlib.sha256(name.encode()).hexdigest()
    root = os.path.join(config_dir(environ), "contexts")
    return os.path.join(root, "meta", digest), os.path.join(root, "tls", digest)


def load_context(environ: Mapping[str, str], name: str) -> dict[str, Any]:
    """The stored meta.json of ``name``.

    Raises:
        ContextNotFound: with docker's text.
    """
    meta_dir, _ = context_dirs(environ, name)
    path = os.path.join(meta_dir, "meta.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ContextNotFound(f'context "{name}": context not found: open {path}: '
                              "no such file or directory") from None
    except (OSError, ValueError) as exc:
        raise errors.InvalidArgument(f'context "{name}": {exc}') from exc


def list_contexts(environ: Mapping[str, str]) -> list[dict[str, Any]]:
    root = os.path.join(config_dir(environ), "contexts", "meta")
    out = []
    for digest in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        try:
            with open(os.path.join(root, digest, "meta.json"), encoding="utf-8") as f:
                out.append(json.load(f))
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda d: d.get("Name", ""))


def save_context(environ: Mapping[str, str], meta: dict[str, Any],
                 tls_files: Mapping[str, bytes] | None = None) -> None:
    from hako.support.atomicfile import write_bytes

    meta_dir, tls_dir = context_dirs(environ, meta["Name"])
    os.makedirs(meta_dir, mode=0o755, exist_ok=True)
    write_bytes(os.path.join(meta_dir, "meta.json"),
                json.dumps(meta, separators=(",", ":")).encode(), mode=0o644)
    if tls_files:
        d = os.path.join(tls_dir, "docker")
        os.makedirs(d, mode=0o700, exist_ok=True)
        for fname, content in tls_files.items():
            write_bytes(os.path.join(d, fname), content, mode=0o600)


def remove_context(environ: Mapping[str, str], name: str) -> None:
    import shutil

    for d in context_dirs(environ, name):
        shutil.rmtree(d, ignore_errors=True)


def tls_material(environ: Mapping[str, str], name: str) -> dict[str, str]:
    """{"ca": path, ...} of the TLS files stored with context ``name``."""
    _, tls_dir = context_dirs(environ, name)
    d = os.path.join(tls_dir, "docker")
    return {k: os.path.join(d, f"{k}.pem") for k in ("ca", "cert", "key")
            if os.path.exists(os.path.join(d, f"{k}.pem"))}


def read_config(environ: Mapping[str, str]) -> dict[str, Any]:
    try:
        with open(os.path.join(config_dir(environ), "config.json"), encoding="utf-8") as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def set_current(environ: Mapping[str, str], name: str) -> None:
    from hako.support.atomicfile import write_bytes

    d = config_dir(environ)
    doc = read_config(environ)
    doc.setdefault("auths", {})
    if name == "default":
        doc.pop("currentContext", None)
    else:
        doc["currentContext"] = name
    os.makedirs(d, mode=0o700, exist_ok=True)
    write_bytes(os.path.join(d, "config.json"), (json.dumps(doc, indent="\t")).encode(),
                mode=0o600)


def env_host(environ: Mapping[str, str]) -> str:
    return environ.get("HAKO_HOST") or environ.get("DOCKER_HOST") or ""


def context_name(opts: GlobalOptions, environ: Mapping[str, str]) -> str:
    """The context in effect (docker's resolveContextName)."""
    if opts.context and opts.hosts:
        raise errors.InvalidArgument("conflicting options: cannot specify both --host and "
                                     "--context")
    if opts.context:
        return opts.context
    if opts.hosts or env_host(environ):
        return "default"
    if environ.get("DOCKER_CONTEXT"):
        return environ["DOCKER_CONTEXT"]
    return read_config(environ).get("currentContext") or "default"


def default_tls(opts: GlobalOptions, environ: Mapping[str, str]) -> TLSConfig | None:
    verify = opts.tlsverify if opts.tlsverify is not None else \
        bool(environ.get("DOCKER_TLS_VERIFY"))
    if not (opts.tls or verify or opts.tlscacert or opts.tlscert or opts.tlskey):
        return None
    certs = environ.get("DOCKER_CERT_PATH") or config_dir(environ)

    def pick(given: str | None, fname: str) -> str | None:
        path = given or os.path.join(certs, fname)
        return path if given or os.path.exists(path) else None
    return TLSConfig(verify=verify, ca=pick(opts.tlscacert, "ca.pem"),
                     cert=pick(opts.tlscert, "cert.pem"), key=pick(opts.tlskey, "key.pem"))


def resolve(opts: GlobalOptions, environ: Mapping[str, str]) -> Endpoint:
    """The endpoint of this invocation.

    Raises:
        InvalidArgument: conflicting options.
        ContextNotFound: an unknown context.
    """
    name = context_name(opts, environ)
    if name == "default":
        host = opts.hosts[0] if opts.hosts else env_host(environ) or DEFAULT_HOST
        return Endpoint("default", host, default_tls(opts, environ))
    meta = load_context(environ, name)
    docker = (meta.get("Endpoints") or {}).get("docker") or {}
    files = tls_material(environ, name)
    tls = None
    if files or str(docker.get("Host", "")).startswith("https://"):
        tls = TLSConfig(verify=not docker.get("SkipTLSVerify"), ca=files.get("ca"),
                        cert=files.get("cert"), key=files.get("key"))
    return Endpoint(name, docker.get("Host") or DEFAULT_HOST, tls)
