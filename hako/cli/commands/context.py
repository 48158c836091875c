"""``context create/use/ls/inspect/rm/show/update``: docker's context store (see cli/endpoint).

The contexts are the docker CLI's own files, so ``docker context use x`` and ``hako context
use x`` agree. Only the ``docker`` endpoint exists (no kubernetes, no export/import).
"""

from __future__ import annotations

import os
import re
from typing import Any

from hako.cli import endpoint
from hako.cli import formatting as fmt
from hako.cli.main import CliError
from hako.cli.parsing import Parser

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$")
ENDPOINT_KEYS = ("from", "host", "ca", "cert", "key", "skip-tls-verify")
HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT",
           "Error": "ERROR"}


def _default_meta(ctx: Any) -> dict[str, Any]:
    host = endpoint.env_host(ctx.environ) or endpoint.DEFAULT_HOST
    return {"Name": "default", "Metadata": {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}}


def _load(ctx: Any, name: str) -> dict[str, Any]:
    """Raises CliError with docker's bare text for an unknown context."""
    if name == "default":
        return _default_meta(ctx)
    try:
        return endpoint.load_context(ctx.environ, name)
    except endpoint.ContextNotFound as exc:
        raise CliError(str(exc), bare=True) from exc


def _current(ctx: Any) -> str:
    opts = ctx.options or endpoint.GlobalOptions()
    return endpoint.context_name(opts, ctx.environ)


def _check_name(name: str) -> None:
    if name == "default":
        raise CliError('"default" is a reserved context name', bare=True)
    if not NAME_RE.match(name):
        raise CliError(f'context name "{name}" is invalid, names are validated against regexp '
                       f'"{NAME_RE.pattern}"', bare=True)


def _docker_endpoint(ctx: Any, spec: dict[str, str], base: dict[str, Any] | None
                     ) -> tuple[dict[str, Any], dict[str, bytes]]:
    """--docker key=value pairs → (endpoint dict, TLS files to store)."""
    bad = [k for k in spec if k not in ENDPOINT_KEYS]
    if bad:
        raise CliError(f"unable to create docker endpoint config: unrecognized config key: "
                       f"{bad[0]}", bare=True)
    if spec.get("from"):
        src = _load(ctx, spec["from"])
        base = (src.get("Endpoints") or {}).get("docker") or {}
    doc = dict(base or {"Host": endpoint.env_host(ctx.environ) or endpoint.DEFAULT_HOST,
                        "SkipTLSVerify": False})
    if "host" in spec:
        doc["Host"] = spec["host"]
    if "skip-tls-verify" in spec:
        doc["SkipTLSVerify"] = spec["skip-tls-verify"].lower() in ("1", "t", "true")
    files = {}
    for key in ("ca", "cert", "key"):
        if spec.get(key):
            path = os.path.expanduser(spec[key])
            try:
                with open(path, "rb") as f:
                    files[f"{key}.pem"] = f.read()
            except OSError as exc:
                raise CliError(f"unable to create docker endpoint config: open {path}: "
                               f"{(exc.strerror or str(exc)).lower()}", bare=True) from exc
    return doc, files


def _key_values(text: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        if item:
            k, _, v = item.partition("=")
            out[k.strip()] = v
    return out


def create(ctx: Any, argv: list[str]) -> int:
    """hako context create [--description D] [--docker k=v,...] [--from NAME] CONTEXT"""
    p = Parser("context create", "[OPTIONS] CONTEXT")
    p.option("--description")
    p.option("--docker")
    p.option("--from", dest="from_")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    name = args[0]
    _check_name(name)
    if name in {m.get("Name") for m in endpoint.list_contexts(ctx.environ)}:
        raise CliError(f'context "{name}" already exists', bare=True)
    spec = _key_values(opts.docker)
    source = opts.from_ or (None if opts.docker else _current(ctx))
    base_meta = _load(ctx, source) if source else None
    base = ((base_meta or {}).get("Endpoints") or {}).get("docker")
    docker, files = _docker_endpoint(ctx, spec, base)
    description = opts.description
    if description is None and source == "default" and not opts.from_:
        description = endpoint.DEFAULT_DESCRIPTION
    if description is None and base_meta:
        description = (base_meta.get("Metadata") or {}).get("Description")
    meta = {"Name": name, "Metadata": {"Description": description} if description else {},
            "Endpoints": {"docker": docker}}
    if source and source != "default" and not files:
        files = {f"{k}.pem": open(v, "rb").read()
                 for k, v in endpoint.tls_material(ctx.environ, source).items()}
    endpoint.save_context(ctx.environ, meta, files)
    ctx.out(name)
    ctx.err(f'Successfully created context "{name}"')
    return 0


def update(ctx: Any, argv: list[str]) -> int:
    """hako context update [--description D] [--docker k=v,...] CONTEXT"""
    p = Parser("context update", "[OPTIONS] CONTEXT")
    p.option("--description")
    p.option("--docker")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    name = args[0]
    if name == "default":
        raise CliError('"default" is a reserved context name', bare=True)
    meta = _load(ctx, name)
    files: dict[str, bytes] = {}
    if opts.docker:
        base = (meta.get("Endpoints") or {}).get("docker")
        meta.setdefault("Endpoints", {})["docker"], files = \
            _docker_endpoint(ctx, _key_values(opts.docker), base)
    if opts.description is not None:
        meta.setdefault("Metadata", {})["Description"] = opts.description
    endpoint.save_context(ctx.environ, meta, files)
    ctx.out(name)
    ctx.err(f'Successfully updated context "{name}"')
    return 0


def use(ctx: Any, argv: list[str]) -> int:
    """hako context use CONTEXT"""
    p = Parser("context use", "CONTEXT")
    _, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    name = args[0]
    _load(ctx, name)
    endpoint.set_current(ctx.environ, name)
    ctx.out(name)
    ctx.err(f'Current context is now "{name}"')
    if name != "default" and endpoint.env_host(ctx.environ):
        ctx.err('Warning: DOCKER_HOST environment variable overrides the active context. To use '
                f'"{name}", either set the global --context flag, or unset DOCKER_HOST '
                'environment variable.')
    return 0


def show(ctx: Any, argv: list[str]) -> int:
    """hako context show"""
    p = Parser("context show", "")
    p.parse(argv, ctx.stderr)
    ctx.out(_current(ctx))
    return 0


def _row(ctx: Any, meta: dict[str, Any], current: str) -> dict[str, Any]:
    name = meta.get("Name", "")
    desc = (meta.get("Metadata") or {}).get("Description", "")
    if name == "default":
        desc = endpoint.DEFAULT_DESCRIPTION
    return {"Current": name == current, "Description": desc,
            "DockerEndpoint": ((meta.get("Endpoints") or {}).get("docker") or {}).get("Host", ""),
            "Error": "", "Name": name}


def ls(ctx: Any, argv: list[str]) -> int:
    """hako context ls [-q] [--format F]"""
    p = Parser("context ls", "[OPTIONS]")
    p.option("--format")
    p.flag("-q", "--quiet")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=0)
    current = _current(ctx)
    metas = sorted([_default_meta(ctx)] + endpoint.list_contexts(ctx.environ),
                   key=lambda m: m.get("Name", ""))
    rows = [_row(ctx, m, current) for m in metas]
    if opts.quiet:
        ctx.stdout.write("".join(r["Name"] + "\n" for r in rows))
        return 0
    template = opts.format or "table"
    if template == "table":
        template = "table {{.Name}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}"
        shown = [dict(r, Name=r["Name"] + (" *" if r["Current"] else "")) for r in rows]
    else:
        shown = rows
    ctx.stdout.write(fmt.render(template, shown, HEADERS, raw=rows))
    return 0


def _inspect_doc(ctx: Any, name: str) -> dict[str, Any]:
    meta = _default_meta(ctx) if name == "default" else endpoint.load_context(ctx.environ, name)
    if name == "default":
        storage = {"MetadataPath": "<IN MEMORY>", "TLSPath": "<IN MEMORY>"}
        tls: dict[str, Any] = {}
    else:
        meta_dir, tls_dir = endpoint.context_dirs(ctx.environ, name)
        storage = {"MetadataPath": meta_dir, "TLSPath": tls_dir}
        found = endpoint.tls_material(ctx.environ, name)
        tls = {"docker": sorted(os.path.basename(v) for v in found.values())} if found else {}
    return {**meta, "TLSMaterial": tls, "Storage": storage}


def inspect(ctx: Any, argv: list[str]) -> int:
    """hako context inspect [-f F] [CONTEXT...]"""
    from hako.cli.gotemplate import Template

    p = Parser("context inspect", "[OPTIONS] [CONTEXT] [CONTEXT...]")
    p.option("-f", "--format")
    opts, args = p.parse(argv, ctx.stderr)
    names = args or [_current(ctx)]
    found, failed = [], []
    for name in names:
        try:
            found.append(_inspect_doc(ctx, name))
        except endpoint.ContextNotFound as exc:
            failed.append(str(exc))
    if opts.format and opts.format != "json":
        tmpl = Template(opts.format.replace("\\t", "\t").replace("\\n", "\n"))
        for doc in found:
            ctx.out(tmpl.render(doc))
    else:
        fmt.print_json_indent(found, ctx.stdout.write)
    if failed:
        raise CliError("\n".join(failed), bare=True)
    return 0


def rm(ctx: Any, argv: list[str]) -> int:
    """hako context rm [-f] CONTEXT..."""
    p = Parser("context rm", "CONTEXT [CONTEXT...]")
    p.flag("-f", "--force")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)
    current = endpoint.read_config(ctx.environ).get("currentContext")
    failed = []
    for name in args:
        if name == "default":
            failed.append('context "default" cannot be removed')
            continue
        try:
            endpoint.load_context(ctx.environ, name)
        except endpoint.ContextNotFound:
            failed.append(f'context "{name}" does not exist')
            continue
        if name == current:
            if not opts.force:
                failed.append(f'context "{name}" is in use, set -f flag to force remove')
                continue
            endpoint.set_current(ctx.environ, "default")
        endpoint.remove_context(ctx.environ, name)
        ctx.out(name)
    if failed:
        raise CliError("\n".join(failed), bare=True)
    return 0
