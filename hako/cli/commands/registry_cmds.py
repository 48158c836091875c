"""``hako push``, ``login``, ``logout``, ``search``: Engine API calls plus the credentials file."""

from __future__ import annotations

from typing import Any

from hako.cli import credentials
from hako.cli.parsing import Parser, check_trust
from hako.cli.progress import render_progress


def push(ctx: Any, argv: list[str]) -> int:
    """hako push [-a] [-q] NAME[:TAG]"""
    p = Parser("push", "[OPTIONS] NAME[:TAG]")
    p.flag("-a", "--all-tags")
    p.flag("-q", "--quiet")
    p.content_trust()
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    check_trust(opts)
    name, tag = args[0], ""
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash and "@" not in name:
        name, tag = name[:colon], name[colon + 1:]
    if not tag and not opts.all_tags:
        tag = "latest"
        ctx.out("Using default tag: latest")
    hdrs = credentials.header(ctx.environ, credentials.registry_of(name))
    resp = ctx.api.request("POST", f"/images/{name}/push", {"tag": tag or None}, b"",
                           headers=hdrs)
    msgs = render_progress(resp.iter_chunks(), ctx.stdout, quiet=opts.quiet)
    if opts.quiet:
        ctx.out(f"{name}:{tag}" if tag else name)
    return 0 if msgs is not None else 1


def login(ctx: Any, argv: list[str]) -> int:
    """hako login [-u USER] [-p PASS | --password-stdin] [SERVER]"""
    p = Parser("login", "[OPTIONS] [SERVER]")
    p.option("-u", "--username")
    p.option("-p", "--password")
    p.flag("--password-stdin")
    opts, args = p.parse(argv, ctx.stderr)
    server = args[0] if args else "docker.io"
    user, password = opts.username or "", opts.password or ""
    if opts.password_stdin:
        password = ctx.stdin.read().rstrip("\r\n")
    if not user:
        ctx.stdout.write("Username: ")
        ctx.stdout.flush()
        user = ctx.stdin.readline().strip()
    body = {"username": user, "password": password, "serveraddress": credentials.server_key(server)}
    reply = ctx.api.post_json("/auth", body=body)
    path = credentials.store(ctx.environ, server, user, password)
    ctx.err(f"WARNING! Your password will be stored unencrypted in {path}.")
    ctx.out(reply.get("Status") or "Login Succeeded")
    return 0


def logout(ctx: Any, argv: list[str]) -> int:
    """hako logout [SERVER]"""
    p = Parser("logout", "[SERVER]")
    _, args = p.parse(argv, ctx.stderr)
    server = args[0] if args else "docker.io"
    key = credentials.server_key(server)
    if credentials.erase(ctx.environ, server):
        ctx.out(f"Removing login credentials for {key}")
    else:
        ctx.out(f"Not logged in to {key}")
    return 0


SEARCH_HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
                  "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED"}


def search_rows(results: list[dict[str, Any]], template: str, no_trunc: bool) -> str:
    """``search --format``: docker's fields (Name, Description, StarCount, IsOfficial,
    IsAutomated; the booleans shown as "[OK]" or empty)."""
    from hako.cli import formatting as fmt

    rows = []
    for r in results:
        desc = r.get("description") or ""
        if not no_trunc and len(desc) > 45:
            desc = desc[:44] + "…"
        rows.append({"Name": r.get("name", ""), "Description": desc,
                     "StarCount": str(r.get("star_count", 0)),
                     "IsOfficial": "[OK]" if r.get("is_official") else "",
                     "IsAutomated": "[OK]" if r.get("is_automated") else ""})
    if template == "table":
        template = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"
    return fmt.render(template, rows, SEARCH_HEADERS)


def search(ctx: Any, argv: list[str]) -> int:
    """hako search [--limit N] [-f FILTER] [--no-trunc] TERM"""
    import json

    p = Parser("search", "[OPTIONS] TERM")
    p.option("--limit")
    p.multi("-f", "--filter")
    p.flag("--no-trunc")
    p.option("--format")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    if opts.format:
        from hako.cli import formatting as fmt

        fmt.render(opts.format, [], SEARCH_HEADERS)  # a bad template fails before the search
    filters: dict[str, list[str]] = {}
    for f in opts.filter or []:
        k, _, v = f.partition("=")
        filters.setdefault(k, []).append(v)
    params = {"term": args[0], "limit": opts.limit or None,
              "filters": json.dumps(filters) if filters else None}
    hdrs = credentials.header(ctx.environ, credentials.registry_of(args[0]))
    results = ctx.api.request("GET", "/images/search", params, headers=hdrs).json()
    if opts.format:
        ctx.stdout.write(search_rows(results, opts.format, opts.no_trunc))
        return 0
    rows = [("NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED")]
    for r in results:
        desc = r.get("description") or ""
        if not opts.no_trunc and len(desc) > 45:
            desc = desc[:44] + "…"
        rows.append((r.get("name", ""), desc, str(r.get("star_count", 0)),
                     "[OK]" if r.get("is_official") else "",
                     "[OK]" if r.get("is_automated") else ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        ctx.out("   ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "   " + row[4])
    return 0
