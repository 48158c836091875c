"""Registry entrypoint: ``python -m hako.registry.server.main serve --addr H:P --root DIR``.

``hako registry serve`` execs this module (the CLI never imports the engine). Flags are
parsed into a frozen config; the server runs until SIGTERM/SIGINT.
Layer 4. May import: errors, support, oci, store, registry.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from http.server import ThreadingHTTPServer

from hako.errors import EngineError
from hako.registry.server.app import Handler
from hako.registry.server.storage import Storage


class RegistryServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    autobuilder = None  # autobuild.AutoBuilder with --autobuild

    def __init__(self, addr: tuple[str, int], storage: Storage, auth=None, read_only: bool = False):
        super().__init__(addr, Handler)
        self.storage = storage
        self.auth = auth
        self.read_only = read_only


def _split_addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hako registry")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the OCI distribution API")
    s.add_argument("--addr", default="127.0.0.1:5000", help="listen address HOST:PORT")
    s.add_argument("--root", required=True, help="storage directory")
    s.add_argument("--htpasswd", default="", help="htpasswd file (bcrypt): basic auth")
    s.add_argument("--token-realm", default="",
                   help="bearer token mode: the token endpoint's URL; 'self' for this "
                        "server's own /token")
    s.add_argument("--service", default="hako-registry", help="bearer token service name")
    s.add_argument("--anonymous-pull", action="store_true",
                   help="token mode: anonymous tokens may pull")
    s.add_argument("--acl", default="",
                   help="per-repository permissions (JSON rules, see registry/server/acl.py)")
    s.add_argument("--autobuild", default="",
                   help="automated builds: JSON list of repositories to build from git "
                        "(see registry/server/autobuild.py)")
    s.add_argument("--autobuild-daemon", default="unix:///run/hako/hako.sock",
                   help="the hakod (or dockerd) that runs the automated builds")
    s.add_argument("--autobuild-poll", type=float, default=60.0,
                   help="seconds between checks of the watched branches")
    s.add_argument("--read-only", action="store_true")
    s.add_argument("--tls-cert", default="")
    s.add_argument("--tls-key", default="")
    s.add_argument("--log-level", default="info")
    g = sub.add_parser("gc", help="remove blobs no manifest references (registry stopped or read-only)")
    g.add_argument("--root", required=True)
    g.add_argument("--delete-untagged", action="store_true")
    g.add_argument("--dry-run", action="store_true")
    return p.parse_args(argv)


def run_gc(ns: argparse.Namespace) -> int:
    from hako.registry.server.gc import collect

    report = collect(Storage(ns.root), ns.delete_untagged, ns.dry_run)
    verb = "would remove" if ns.dry_run else "removed"
    for m in report.manifests:
        print(f"{verb} manifest {m}")
    for b in report.blobs:
        print(f"{verb} blob {b}")
    print(f"{len(report.blobs)} blobs, {len(report.manifests)} manifests {verb}")
    return 0


def build_server(ns: argparse.Namespace) -> RegistryServer:
    server = RegistryServer(_split_addr(ns.addr), Storage(ns.root), None, ns.read_only)
    if ns.htpasswd or ns.token_realm or ns.acl:
        from hako.registry.server.auth import make_auth

        realm = ns.token_realm
        if realm == "self":  # this server's own /token endpoint
            host, port = server.server_address[:2]
            scheme = "https" if ns.tls_cert else "http"
            realm = f"{scheme}://{host}:{port}/token"
        server.auth = make_auth(ns.htpasswd, realm, ns.service, ns.anonymous_pull, ns.acl)
    if ns.autobuild:
        _attach_autobuilder(server, ns)
    if ns.tls_cert:
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ns.tls_cert, ns.tls_key or None)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    return server


def _attach_autobuilder(server: RegistryServer, ns: argparse.Namespace) -> None:
    from hako.registry.server import autobuild

    if ns.read_only:
        raise EngineError("--autobuild cannot push to a --read-only registry")
    if ns.autobuild_poll <= 0:
        raise EngineError("--autobuild-poll must be a positive number of seconds")
    with open(ns.autobuild) as f:
        sources = autobuild.parse(f.read(), ns.autobuild)
    host, port = server.server_address[:2]
    registry_host = f"{host}:{port}"
    header = ""
    if server.auth is not None:
        from hako.registry.server.auth import add_internal_account

        header = autobuild.registry_auth_header(*add_internal_account(server.auth), registry_host)
    server.autobuilder = autobuild.AutoBuilder(ns.root, sources, autobuild.Daemon(ns.autobuild_daemon),
                                               registry_host, header, ns.autobuild_poll)


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(sys.argv[1:] if argv is None else argv)
    if ns.command == "gc":
        return run_gc(ns)
    logging.basicConfig(level=getattr(logging, ns.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = build_server(ns)
    except (EngineError, OSError) as exc:
        print(f"hako registry: {exc}", file=sys.stderr)
        return 1
    host, port = server.server_address[:2]
    logging.getLogger("hako.registry").info("listening on %s:%s, root %s", host, port, ns.root)
    print(f"listening on {host}:{port}", flush=True)
    builder = getattr(server, "autobuilder", None)
    if builder is not None:
        builder.start()

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.2)
    if builder is not None:
        builder.stop()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
