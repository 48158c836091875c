"""Image verbs: images, rmi, tag, history, import, save, load, pull, prune, bootstrap."""

from __future__ import annotations

import time
from typing import Any

from hako.cli import formatting as fmt
from hako.cli.commands import for_each
from hako.cli.commands.container import write_stream
from hako.cli.main import CliError
from hako.cli.parsing import Parser, UsageError, check_trust
from hako.cli.progress import render_progress
from hako.opts import filters as fopts
from hako.support.units import human_size


def images(ctx: Any, argv: list[str]) -> int:
    """hako images [-a] [-q] [--no-trunc] [--digests] [-f k=v] [--format F] [REPO[:TAG]]"""
    p = Parser("images", "[OPTIONS] [REPOSITORY[:TAG]]")
    p.flag("-a", "--all")
    p.flag("-q", "--quiet")
    p.flag("--no-trunc")
    p.flag("--digests")
    p.multi("-f", "--filter")
    p.option("--format")
    p.flag("--tree")
    if "-t" in argv[: argv.index("--") if "--" in argv else len(argv)]:  # the seed's images -t
        ctx.stderr.write("Warning: '-t' is deprecated, it will be replaced by '--tree' soon. "
                         "See usage.\n")
        argv = ["--tree" if a == "-t" else a for a in argv]
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_most=1)
    if opts.tree:
        clash = [f for f, on in (("--quiet", opts.quiet), ("--format", opts.format),
                                 ("--digests", opts.digests), ("--filter", opts.filter),
                                 ("--no-trunc", opts.no_trunc)) if on] + (["REPOSITORY"] if args else [])
        if clash:
            raise UsageError(f"--tree cannot be combined with {clash[0]}")
        from hako.cli import imagetree

        return imagetree.show(ctx, opts.all)
    filters = fopts.parse_flags(opts.filter)
    if args:
        filters.setdefault("reference", set()).add(args[0])
    items = ctx.api.images.list(all=opts.all, digests=opts.digests,
                                filters=fopts.to_wire(filters))
    trunc, now = not opts.no_trunc, time.time()
    if opts.quiet:
        seen = []
        for img in items:
            iid = fmt.truncate_id(img["Id"]) if trunc else img["Id"]
            if iid not in seen:
                seen.append(iid)
        ctx.stdout.write("".join(i + "\n" for i in seen))
        return 0
    rows = [r for img in items for r in fmt.image_rows(img, trunc, opts.digests, now)]
    template = opts.format or (fmt.IMAGES_TABLE_DIGESTS if opts.digests else fmt.IMAGES_TABLE)
    if template == "table":
        template = fmt.IMAGES_TABLE
    ctx.stdout.write(fmt.render(template, rows, fmt.IMAGES_HEADERS))
    return 0


def rmi(ctx: Any, argv: list[str]) -> int:
    """hako rmi [-f] [--no-prune] IMAGE..."""
    p = Parser("rmi", "[OPTIONS] IMAGE [IMAGE...]")
    p.flag("-f", "--force")
    p.flag("--no-prune")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)

    def one(ref: str) -> None:
        for item in ctx.api.images.remove(ref, opts.force, opts.no_prune):
            if item.get("Untagged"):
                ctx.out(f"Untagged: {item['Untagged']}")
            if item.get("Deleted"):
                ctx.out(f"Deleted: {item['Deleted']}")
    return for_each(ctx, args, one, echo=False)


def split_repo_tag(ref: str) -> tuple[str, str]:
    """"repo:tag" → (repo, tag); a ":" before the last "/" is a registry port."""
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, ""
    return repo, tag


def tag(ctx: Any, argv: list[str]) -> int:
    """hako tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"""
    p = Parser("tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")
    _, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=2)
    repo, t = split_repo_tag(args[1])
    ctx.api.images.tag(args[0], repo, t or "latest")
    return 0


HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                   "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}


def history(ctx: Any, argv: list[str]) -> int:
    """hako history [-H] [--no-trunc] [-q] [--format F] IMAGE"""
    p = Parser("history", "[OPTIONS] IMAGE")
    p.flag("-H", "--human", default=True)
    p.flag("--no-trunc")
    p.flag("-q", "--quiet")
    p.option("--format")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    trunc, now = not opts.no_trunc, time.time()
    rows = []
    for h in ctx.api.images.history(args[0]):
        hid = h.get("Id", "")
        created = h.get("Created", 0)
        by = h.get("CreatedBy", "").replace("\t", " ")
        rows.append({
            "ID": hid if hid == "<missing>" or not trunc else fmt.truncate_id(hid),
            "CreatedSince": fmt.ago(created, now),
            "CreatedAt": fmt.rfc3339(created),
            "CreatedBy": fmt.ellipsis(by, 45) if trunc else by,
            "Size": human_size(h.get("Size", 0)) if opts.human else str(h.get("Size", 0)),
            "Comment": h.get("Comment", ""),
        })
    created = "{{.CreatedSince}}" if opts.human else "{{.CreatedAt}}"
    template = "{{.ID}}" if opts.quiet else (opts.format or
        "table {{.ID}}\t" + created + "\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}")
    ctx.stdout.write(fmt.render(template, rows, HISTORY_HEADERS))
    return 0


def _file_chunks(f: Any, size: int = 1 << 20):
    while True:
        data = f.read(size)
        if not data:
            return
        yield data


def _stdin_binary(ctx: Any) -> Any:
    return getattr(ctx.stdin, "buffer", ctx.stdin)


def import_(ctx: Any, argv: list[str]) -> int:
    """hako import [-c CHANGE] [-m MSG] [--platform P] file|URL|- [REPOSITORY[:TAG]]"""
    p = Parser("import", "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]")
    p.multi("-c", "--change")
    p.option("-m", "--message")
    p.option("--platform")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1, at_most=2)
    src = args[0]
    repo, t = split_repo_tag(args[1]) if len(args) > 1 else ("", "")
    params = {"repo": repo or None, "tag": t or None, "message": opts.message,
              "changes": None, "platform": opts.platform}
    query_changes = opts.change
    body = None
    f = None
    if src.startswith(("http://", "https://")):
        params["fromSrc"] = src
    else:
        params["fromSrc"] = "-"
        f = _stdin_binary(ctx) if src == "-" else open(src, "rb")
        body = _file_chunks(f)
    try:
        resp = ctx.api.images.create(_with_changes(params, query_changes), body)
        render_progress(resp.iter_chunks(), ctx.stdout)
    finally:
        if f is not None and src != "-":
            f.close()
    return 0


def _with_changes(params: dict, changes: list[str]) -> dict:
    """The API takes repeated ``changes`` query values; urlencode needs a list of pairs."""
    params = {k: v for k, v in params.items() if v is not None}
    if changes:
        params["changes"] = _Multi(changes)
    return params


class _Multi(list):
    """A query value sent as repeated keys (see hako.client.api._query)."""


def save(ctx: Any, argv: list[str]) -> int:
    """hako save [-o FILE] IMAGE..."""
    p = Parser("save", "[OPTIONS] IMAGE [IMAGE...]")
    p.option("-o", "--output")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)
    if not opts.output and ctx.stdout.isatty():
        raise CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    write_stream(ctx, ctx.api.images.save(args), opts.output)
    return 0


def load(ctx: Any, argv: list[str]) -> int:
    """hako load [-i FILE] [-q]"""
    p = Parser("load", "[OPTIONS]")
    p.option("-i", "--input")
    p.flag("-q", "--quiet")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=0)
    if opts.input:
        f = open(opts.input, "rb")
    else:
        if ctx.stdin.isatty():
            raise CliError("requested load from stdin, but stdin is empty")
        f = _stdin_binary(ctx)
    try:
        resp = ctx.api.images.load(_file_chunks(f), quiet=opts.quiet)
        render_progress(resp.iter_chunks(), ctx.stdout)
    finally:
        if opts.input:
            f.close()
    return 0


def pull(ctx: Any, argv: list[str]) -> int:
    """hako pull [-q] [--platform P] NAME[:TAG|@DIGEST]"""
    p = Parser("pull", "[OPTIONS] NAME[:TAG|@DIGEST]")
    p.flag("-q", "--quiet")
    p.flag("-a", "--all-tags")
    p.option("--platform")
    p.content_trust()
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    check_trust(opts)
    ref = args[0]
    repo, t = split_repo_tag(ref) if "@" not in ref else (ref, "")
    if not t and "@" not in ref and not opts.all_tags:
        t = "latest"
        ctx.out("Using default tag: latest")
    from hako.cli import credentials

    resp = ctx.api.request("POST", "/images/create", {"fromImage": repo, "tag": t or None,
                                                      "platform": opts.platform}, b"",
                           headers=credentials.header(ctx.environ, credentials.registry_of(repo)))
    render_progress(resp.iter_chunks(), ctx.stdout, quiet=opts.quiet)
    ctx.out(f"{repo}:{t}" if t else repo)
    return 0


def prune(ctx: Any, argv: list[str]) -> int:
    """hako image prune [-a] [-f] [--filter k=v]"""
    p = Parser("image prune", "[OPTIONS]")
    p.flag("-a", "--all")
    p.flag("-f", "--force")
    p.multi("--filter")
    opts, _ = p.parse(argv, ctx.stderr)
    filters = fopts.parse_flags(opts.filter)
    filters["dangling"] = {"false" if opts.all else "true"}
    if not opts.force:
        what = "all images without at least one container associated to them" if opts.all \
            else "all dangling images"
        ctx.stdout.write(f"WARNING! This will remove {what}.\n"
                         "Are you sure you want to continue? [y/N] ")
        ctx.stdout.flush()
        if ctx.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    doc = ctx.api.images.prune(fopts.to_wire(filters)) or {}
    deleted = doc.get("ImagesDeleted") or []
    if deleted:
        ctx.out("Deleted Images:")
        for item in deleted:
            for k in ("Untagged", "Deleted"):
                if item.get(k):
                    ctx.out(f"{k.lower()}: {item[k]}")
        ctx.out()
    ctx.out(f"Total reclaimed space: {human_size(doc.get('SpaceReclaimed') or 0)}")
    return 0


def bootstrap(ctx: Any, argv: list[str]) -> int:
    """hako image bootstrap busybox|debian:SUITE [--tag REPO:TAG] [--include PKG,...]"""
    from hako.cli import bootstrap as boot

    p = Parser("image bootstrap", "[OPTIONS] busybox|debian:SUITE")
    p.option("--tag")
    p.option("--mirror")
    p.option("--include", default="", help="Comma-separated packages debootstrap adds "
             "(debian:SUITE only)")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    return boot.bootstrap(ctx, args[0], opts.tag, opts.mirror, opts.include)
