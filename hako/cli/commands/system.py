"""``info``, ``version`` and ``events``."""

from __future__ import annotations

import json
import platform
import time
from typing import Any

from hako import __version__, errors
from hako.cli.gotemplate import Template
from hako.cli.parsing import Parser
from hako.client.api import MAX_API_VERSION
from hako.client.streams import json_lines
from hako.opts import filters as fopts


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units with 4 significant digits ("23.47GiB")."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    i = 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.4g}{units[i]}"


def ansic(stamp: str) -> str:
    """RFC 3339 build time → Go's time.ANSIC ("Thu May  7 21:09:36 2026"), as docker shows."""
    import re
    from datetime import datetime

    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?$", stamp)
    if not m:
        return stamp
    dt = datetime.fromisoformat(m.group(1) + (m.group(2) or "").replace("Z", "+00:00"))
    return dt.strftime("%a %b ") + f"{dt.day:>2}" + dt.strftime(" %H:%M:%S %Y")


def _client_version(ctx: Any) -> dict[str, Any]:
    return {"Platform": {"Name": ""}, "Version": __version__, "ApiVersion": MAX_API_VERSION,
            "DefaultAPIVersion": MAX_API_VERSION, "GoVersion": "python" +
            platform.python_version(), "GitCommit": "", "BuildTime": "",
            "Os": "linux", "Arch": "amd64" if platform.machine() == "x86_64"
            else platform.machine(), "Context": "default"}


# Go field names of docker's version structs whose JSON names differ (templates see fields)
_GO_NAMES = {"ApiVersion": "APIVersion", "MinAPIVersion": "MinAPIVersion",
             "DefaultAPIVersion": "DefaultAPIVersion"}


def go_fields(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """``{{.Server.APIVersion}}`` works as with docker: Go names beside the JSON ones."""
    if doc is None:
        return None
    return {**doc, **{go: doc[js] for js, go in _GO_NAMES.items() if js in doc}}


def version(ctx: Any, argv: list[str]) -> int:
    """hako version [-f FORMAT]"""
    p = Parser("version", "[OPTIONS]")
    p.option("-f", "--format")
    opts, _ = p.parse(argv, ctx.stderr)
    client = _client_version(ctx)
    server, server_err = None, None
    try:
        server = ctx.api.system.version()
        client["ApiVersion"] = ctx.api.version
    except errors.EngineError as exc:
        server_err = exc
    if opts.format:
        ctx.out(Template(opts.format).render({"Client": go_fields(client),
                                              "Server": go_fields(server)}))
    else:
        ctx.stdout.write(_version_text(client, server))
    if server_err is not None:
        raise server_err
    return 0


def _version_text(client: dict[str, Any], server: dict[str, Any] | None) -> str:
    lines = ["Client:",
             f" Version:           {client['Version']}",
             f" API version:       {client['ApiVersion']}",
             f" Go version:        {client['GoVersion']}",
             f" Git commit:        {client['GitCommit']}",
             f" Built:             {client['BuildTime']}",
             f" OS/Arch:           {client['Os']}/{client['Arch']}",
             f" Context:           {client['Context']}"]
    if server is None:
        return "\n".join(lines) + "\n"
    lines += ["", "Server:" + (f" {server['Platform']['Name']}"
                               if (server.get("Platform") or {}).get("Name") else "")]
    components = server.get("Components") or [{"Name": "Engine", "Version": server.get(
        "Version", ""), "Details": {"ApiVersion": server.get("ApiVersion", ""),
                                    "MinAPIVersion": server.get("MinAPIVersion", ""),
                                    "GoVersion": server.get("GoVersion", ""),
                                    "GitCommit": server.get("GitCommit", ""),
                                    "BuildTime": server.get("BuildTime", ""),
                                    "Os": server.get("Os", ""), "Arch": server.get("Arch", ""),
                                    "Experimental": str(server.get("Experimental", False)).lower()}}]
    for comp in components:
        d = comp.get("Details") or {}
        lines.append(f" {comp.get('Name')}:")
        lines.append(f"  Version:          {comp.get('Version', '')}")
        if comp.get("Name") == "Engine":
            lines += [f"  API version:      {d.get('ApiVersion', '')} (minimum version "
                      f"{d.get('MinAPIVersion', '')})",
                      f"  Go version:       {d.get('GoVersion', '')}",
                      f"  Git commit:       {d.get('GitCommit', '')}",
                      f"  Built:            {ansic(d.get('BuildTime', ''))}",
                      f"  OS/Arch:          {d.get('Os', '')}/{d.get('Arch', '')}",
                      f"  Experimental:     {d.get('Experimental', 'false')}"]
        else:
            lines += [f"  {k}:{' ' * max(1, 17 - len(k))}{v}" for k, v in d.items()]
    return "\n".join(lines) + "\n"


def info(ctx: Any, argv: list[str]) -> int:
    """hako info [-f FORMAT]"""
    p = Parser("info", "[OPTIONS]")
    p.option("-f", "--format")
    opts, _ = p.parse(argv, ctx.stderr)
    doc = ctx.api.system.info()
    if opts.format:
        if opts.format == "json":
            ctx.out(json.dumps(doc))
        else:
            ctx.out(Template(opts.format).render(doc))
        return 0
    client = _client_version(ctx)
    out = ["Client:", f" Version:    {client['Version']}", f" Context:    {ctx.context}",
           " Debug Mode: false", "", "Server:"] + server_info_lines(doc)
    ctx.stdout.write("\n".join(out) + "\n\n")
    for w in doc.get("Warnings") or []:
        ctx.err(w)
    return 0


def _security_lines(options: list[str]) -> list[str]:
    out = [" Security Options:"]
    for opt in options:
        kv = dict(p.partition("=")[::2] for p in opt.split(","))
        out.append(f"  {kv.get('name', opt)}")
        out += [f"   {k.capitalize()}: {v}" for k, v in kv.items() if k != "name"]
    return out


def server_info_lines(doc: dict[str, Any]) -> list[str]:
    """The "Server:" part of ``docker info`` (prettyPrintServerInfo's order and labels)."""
    def kv(label: str, value: Any) -> list[str]:
        return [] if value is None else [f" {label}: {value}"]

    lines = kv("Containers", doc.get("Containers"))
    lines += [f"  {k}: {doc.get(f'Containers{k}')}" for k in ("Running", "Paused", "Stopped")]
    lines += kv("Images", doc.get("Images")) + kv("Server Version", doc.get("ServerVersion"))
    lines += kv("Storage Driver", doc.get("Driver"))
    lines += [f"  {k}: {v}" for k, v in doc.get("DriverStatus") or []]
    lines += kv("Logging Driver", doc.get("LoggingDriver"))
    lines += kv("Cgroup Driver", doc.get("CgroupDriver"))
    lines += kv("Cgroup Version", doc.get("CgroupVersion"))
    plugins = doc.get("Plugins") or {}
    lines += [" Plugins:"] + [f"  {k}: {' '.join(plugins[k])}" for k in ("Volume", "Network",
                                                                          "Authorization", "Log")
                              if plugins.get(k)]
    lines += kv("Swarm", ((doc.get("Swarm") or {}).get("LocalNodeState") or "inactive"))
    lines += kv("Runtimes", " ".join(sorted(doc.get("Runtimes") or {})))
    lines += kv("Default Runtime", doc.get("DefaultRuntime"))
    lines += kv("Init Binary", doc.get("InitBinary"))
    for label, key in (("containerd", "ContainerdCommit"), ("runc", "RuncCommit"),
                       ("init", "InitCommit")):
        lines.append(f" {label} version: {(doc.get(key) or {}).get('ID', '')}")
    if doc.get("SecurityOptions"):
        lines += _security_lines(doc["SecurityOptions"])
    for label, key in (("Kernel Version", "KernelVersion"), ("Operating System",
                       "OperatingSystem"), ("OSType", "OSType"),
                       ("Architecture", "Architecture"), ("CPUs", "NCPU")):
        lines += kv(label, doc.get(key))
    lines += kv("Total Memory", bytes_size(doc.get("MemTotal") or 0))
    lines += kv("Name", doc.get("Name")) + kv("ID", doc.get("ID"))
    lines += kv("Docker Root Dir", doc.get("DockerRootDir"))
    lines += kv("Debug Mode", str(bool(doc.get("Debug"))).lower())
    for label, key in (("HTTP Proxy", "HttpProxy"), ("HTTPS Proxy", "HttpsProxy"),
                       ("No Proxy", "NoProxy")):
        if doc.get(key):
            lines += kv(label, doc[key])
    lines += kv("Experimental", str(bool(doc.get("ExperimentalBuild"))).lower())
    if doc.get("Labels"):
        lines += [" Labels:"] + [f"  {x}" for x in doc["Labels"]]
    reg = doc.get("RegistryConfig") or {}
    insecure = [n for n, c in (reg.get("IndexConfigs") or {}).items()
                if not c.get("Secure", True)] + list(reg.get("InsecureRegistryCIDRs") or [])
    if insecure:
        lines += [" Insecure Registries:"] + [f"  {x}" for x in insecure]
    if reg.get("Mirrors"):
        lines += [" Registry Mirrors:"] + [f"  {x}" for x in reg["Mirrors"]]
    lines += kv("Live Restore Enabled", str(bool(doc.get("LiveRestoreEnabled"))).lower())
    return lines


def check(ctx: Any, argv: list[str]) -> int:
    """hako system check: the daemon's store consistency check (a hako extension)."""
    p = Parser("system check", "")
    p.parse(argv, ctx.stderr)
    found = ctx.api.system.check()
    for line in found:
        ctx.stdout.write(line + "\n")
    if found:
        ctx.stderr.write(f"{len(found)} problem(s) found\n")
        return 1
    ctx.stdout.write("no problems found\n")
    return 0


EMPTY_EVENT = {"status": "", "id": "", "from": "", "Type": "", "Action": "",
               "Actor": {"ID": "", "Attributes": {}}, "scope": "", "time": 0, "timeNano": 0}


def format_event(ev: dict[str, Any]) -> str:
    """One event as docker prints it: time, type, action, id, (attributes)."""
    nano = ev.get("timeNano") or int(ev.get("time", 0)) * 1_000_000_000
    secs, frac = divmod(int(nano), 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(secs)) + f".{frac:09d}"
    offset = time.strftime("%z", time.localtime(secs))
    stamp += "Z" if offset in ("+0000", "-0000") else offset[:3] + ":" + offset[3:]
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    text = f"{stamp} {ev.get('Type', '')} {ev.get('Action', '')} {actor.get('ID', '')}"
    if attrs:
        text += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return text


def events(ctx: Any, argv: list[str]) -> int:
    """hako events [--since T] [--until T] [-f k=v] [--format F]"""
    from hako.cli.commands.logs import timestamp_arg

    p = Parser("events", "[OPTIONS]")
    p.option("--since")
    p.option("--until")
    p.multi("-f", "--filter")
    p.option("--format")
    opts, _ = p.parse(argv, ctx.stderr)
    tmpl = Template(opts.format) if opts.format and opts.format != "json" else None
    if tmpl is not None:
        tmpl.render(EMPTY_EVENT)  # docker validates the template before streaming
    resp = ctx.api.system.events(timestamp_arg(opts.since), timestamp_arg(opts.until),
                                 fopts.to_wire(fopts.parse_flags(opts.filter)))
    for ev in json_lines(resp.iter_chunks()):
        if opts.format == "json":
            ctx.out(json.dumps(ev))
        else:
            ctx.out(tmpl.render(ev) if tmpl else format_event(ev))
        ctx.stdout.flush()
    return 0
