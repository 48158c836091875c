"""``hako build [OPTIONS] PATH | URL | -`` (the docker CLI's legacy builder client).

The context (a directory tarred with ``.dockerignore`` honoured, a tar or a Dockerfile on
stdin, or a URL/git address passed to the daemon as ``remote``) is sent to ``POST /build``;
the JSON-lines answer is printed as docker prints it (step lines, RUN output, "Successfully
built/tagged" come from the daemon). An ``errorDetail`` ends the command with its code (1
by default) and message on stderr. ``-q`` prints only the image id; ``--iidfile`` writes it.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from hako.cli.commands import buildctx
from hako.cli.main import CliError
from hako.cli.parsing import Parser, check_trust, go_int
from hako.cli.runconfig import _typed
from hako.opts import resources
from hako.support.units import human_size


def _parser() -> Parser:
    p = Parser("build", "[OPTIONS] PATH | URL | -")
    p.multi("-t", "--tag")
    p.option("-f", "--file", default="")
    p.multi("--build-arg")
    p.option("--target", default="")
    p.flag("--no-cache")
    p.flag("-q", "--quiet")
    p.multi("--label")
    p.option("--iidfile", default="")
    p.option("--network", default="")
    p.flag("--pull")
    p.flag("--rm", default=True)
    p.flag("--force-rm")
    p.multi("--cache-from")
    p.multi("--add-host")
    p.option("--platform", default="")
    p.multi("--ulimit")
    # resource limits of build steps and the rest: sent as docker sends them; hakod honours
    # or refuses each (daemon/fields.py BUILD_QUERY)
    p.option("--cgroup-parent")
    p.option("--cpu-period", type=go_int)
    p.option("--cpu-quota", type=go_int)
    p.option("-c", "--cpu-shares", type=go_int)
    p.option("--cpuset-cpus")
    p.option("--cpuset-mems")
    p.content_trust()
    p.option("--isolation")
    p.option("-m", "--memory", type=_typed(resources.parse_memory))
    p.option("--memory-swap", type=_typed(resources.parse_memory_swap))
    p.option("--shm-size", type=_typed(resources.parse_memory))
    p.flag("--squash")
    return p


_QUERY_OF = {"cgroup_parent": "cgroupparent", "cpu_period": "cpuperiod", "cpu_quota": "cpuquota",
             "cpu_shares": "cpushares", "cpuset_cpus": "cpusetcpus", "cpuset_mems": "cpusetmems",
             "isolation": "isolation", "memory": "memory", "memory_swap": "memswap",
             "shm_size": "shmsize"}


def _kv_map(items: list[str], env: Any) -> dict[str, Any]:
    """``K=V`` → V; a bare ``K`` takes the environment's value or null (docker's rule)."""
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        out[key] = value if eq else env.get(key)
    return out


def _labels(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


def build_params(opts: Any, env: Any, dockerfile: str, remote: str = "") -> dict[str, Any]:
    """The ``POST /build`` query for the parsed options."""
    from hako.cli.commands.image import _Multi

    params: dict[str, Any] = {
        "t": _Multi(opts.tag) if opts.tag else None, "remote": remote or None,
        "dockerfile": dockerfile or None, "q": opts.quiet or None,
        "nocache": opts.no_cache or None, "pull": opts.pull or None, "rm": opts.rm,
        "forcerm": opts.force_rm or None, "target": opts.target or None,
        "networkmode": opts.network or None, "platform": opts.platform or None,
        "extrahosts": _Multi(opts.add_host) if opts.add_host else None,
    }
    if opts.build_arg:
        params["buildargs"] = _kv_map(opts.build_arg, env)
    if opts.label:
        params["labels"] = _labels(opts.label)
    if opts.cache_from:
        params["cachefrom"] = list(opts.cache_from)
    if opts.ulimit:
        params["ulimits"] = [{"Name": u.name, "Hard": u.hard, "Soft": u.soft}
                             for u in (resources.parse_ulimit(x) for x in opts.ulimit)]
    params.update({q: getattr(opts, d) for d, q in _QUERY_OF.items()
                   if getattr(opts, d) is not None})
    if opts.squash:
        params["squash"] = True
    check_trust(opts)
    return {k: v for k, v in params.items() if v is not None}


def _stdin_bytes(ctx: Any) -> bytes:
    stream = getattr(ctx.stdin, "buffer", ctx.stdin)
    data = stream.read()
    return data.encode() if isinstance(data, str) else data


def prepare_context(ctx: Any, opts: Any, source: str) -> tuple[Any, str, str]:
    """(context body or None, dockerfile name for the daemon, remote) for ``source``.

    Raises:
        CliError, InvalidArgument: Docker's "unable to prepare context" errors.
    """
    if source == "-":
        if opts.file == "-":
            raise CliError("invalid argument: can't use stdin for both build context and dockerfile")
        data = _stdin_bytes(ctx)
        if buildctx.detect_archive(data[:512]):
            return data, opts.file, ""
        return buildctx.dockerfile_only_context(data), buildctx.DEFAULT_DOCKERFILE, ""
    if buildctx.is_git_url(source) or buildctx.is_url(source):
        return None, opts.file, source
    if not os.path.isdir(source):
        raise CliError(f'unable to prepare context: path "{source}" not found')
    from_stdin = opts.file == "-"
    rel = "" if from_stdin else buildctx.dockerfile_rel_path(source, opts.file)
    outside = rel.startswith("../")
    patterns: list[str] = []
    ignore = os.path.join(source, ".dockerignore")
    if os.path.exists(ignore):
        with open(ignore, encoding="utf-8", errors="replace") as f:
            patterns = buildctx.read_dockerignore(f.read())
    patterns = buildctx.trim_build_files(patterns, rel, from_stdin or outside)
    tmp = tempfile.TemporaryFile()
    buildctx.write_context(source, tmp, patterns)
    if from_stdin or outside:
        tmp.seek(0)
        extra = _stdin_bytes(ctx) if from_stdin else open(os.path.abspath(opts.file), "rb").read()
        data, rel = buildctx.add_dockerfile(tmp.read(), extra)
        tmp.close()
        return data, rel, ""
    return tmp, rel, ""


def _chunks(body: Any):
    if isinstance(body, (bytes, bytearray)):
        for i in range(0, len(body), 1 << 20):
            yield bytes(body[i:i + (1 << 20)])
        return
    body.seek(0)
    while True:
        chunk = body.read(1 << 20)
        if not chunk:
            return
        yield chunk


def _size(body: Any) -> int:
    if isinstance(body, (bytes, bytearray)):
        return len(body)
    body.seek(0, os.SEEK_END)
    return body.tell()


def build(ctx: Any, argv: list[str]) -> int:
    """hako build [OPTIONS] PATH | URL | -"""
    p = _parser()
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    if opts.iidfile:
        try:
            os.unlink(opts.iidfile)
        except FileNotFoundError:
            pass
    body, dockerfile, remote = prepare_context(ctx, opts, args[0])
    params = build_params(opts, ctx.environ, dockerfile, remote)
    progress = ctx.stderr if opts.quiet else ctx.stdout
    if body is not None and not opts.quiet:
        progress.write(f"Sending build context to Docker daemon  {human_size(_size(body), 4)}\n")
    try:
        resp = ctx.api.request("POST", "/build", params,
                               body=_chunks(body) if body is not None else b"",
                               headers={"Content-Type": "application/x-tar"})
        image_id = render_build_stream(resp.iter_chunks(), ctx.stdout, opts.quiet, ctx.stderr)
    finally:
        if hasattr(body, "close"):
            body.close()
    if opts.quiet:
        ctx.out(image_id)
    if opts.iidfile and image_id:
        with open(opts.iidfile, "w") as f:
            f.write(image_id)
    return 0


def render_build_stream(chunks: Any, out: Any, quiet: bool, err: Any) -> str:
    """Print a build's JSON-lines stream; returns the image id (``aux.ID``).

    Raises:
        CliError: an ``error``/``errorDetail`` message (its code, default 1), with any
            buffered output first written to ``err`` in quiet mode.
    """
    from hako.client.streams import json_lines

    image_id, buffered = "", []
    for msg in json_lines(chunks):
        if msg.get("errorDetail") or msg.get("error"):
            detail = msg.get("errorDetail") or {}
            if quiet and buffered:
                err.write("".join(buffered))
            code = int(detail.get("code") or 1)
            raise CliError(detail.get("message") or msg.get("error") or "", code, bare=True)
        aux = msg.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = aux["ID"]
            continue
        text = msg.get("stream")
        if text is None and msg.get("status"):
            text = (f"{msg['id']}: " if msg.get("id") else "") + msg["status"] + "\n"
        if not text:
            continue
        if quiet:
            buffered.append(text)
            if not image_id and text.strip().startswith("sha256:"):
                image_id = text.strip()
        else:
            out.write(text)
            out.flush()
    return image_id
