"""``hako registry serve|gc ...`` runs the registry server in this process's place;
``hako registry builds`` reads a registry's automated builds over HTTP.

The CLI never imports the engine (``.importlinter``), so ``serve`` and ``gc`` exec
``python -m hako.registry.server.main`` with the same arguments. ``builds`` is a plain HTTP
client of ``/autobuild/builds`` and uses the credentials ``hako login`` stored.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from typing import Any

from hako.cli import credentials
from hako.cli.main import CliError
from hako.cli.parsing import Parser


def registry(ctx, args: list[str]) -> int:
    if args and args[0] == "builds":
        return builds(ctx, args[1:])
    argv = [sys.executable, "-m", "hako.registry.server.main", *args]
    for stream in (ctx.stdout, ctx.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os.execv(sys.executable, argv)
    return 0  # not reached


def builds(ctx: Any, argv: list[str]) -> int:
    """hako registry builds [--registry HOST:PORT] [--tls] [BUILD_ID [--log]]"""
    import http.client

    p = Parser("registry builds", "[OPTIONS] [BUILD_ID]")
    p.option("--registry", default="127.0.0.1:5000")
    p.flag("--tls")
    p.flag("--log")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_most=1)
    build = args[0] if args else ""
    path = "/autobuild/builds" + (f"/{build}" if build else "") + ("/log" if opts.log and build else "")
    headers = {}
    auth = credentials.lookup(ctx.environ, opts.registry)
    if auth and auth.get("username"):
        token = base64.b64encode(f"{auth['username']}:{auth.get('password', '')}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    conn = (http.client.HTTPSConnection if opts.tls else http.client.HTTPConnection)(opts.registry, timeout=30)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
    except OSError as exc:
        raise CliError(f"registry {opts.registry}: {exc}") from None
    finally:
        conn.close()
    if resp.status != 200:
        try:
            msg = json.loads(body)["errors"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            msg = body.decode(errors="replace").strip()
        raise CliError(f"registry {opts.registry}: {resp.status}: {msg}")
    if opts.log and build:
        ctx.stdout.write(body.decode(errors="replace"))
        return 0
    doc = json.loads(body)
    _table(ctx, [doc] if build else doc)
    if build and doc.get("error"):
        ctx.out(f"error: {doc['error']}")
    return 0


def _table(ctx: Any, rows: list[dict[str, Any]]) -> None:
    ctx.out(f"{'BUILD ID':<14}{'REPOSITORY':<24}{'COMMIT':<14}{'TAGS':<20}{'STATUS':<11}{'STARTED':<21}DURATION")
    for b in rows:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b["started"])) if b["started"] else "-"
        took = f"{b['finished'] - b['started']:.1f}s" if b["finished"] and b["started"] else "-"
        ctx.out(f"{b['id'][:12]:<14}{b['repository']:<24}{b['commit'][:12]:<14}"
                f"{','.join(b['tags']):<20}{b['status']:<11}{started:<21}{took}")
