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
    rows = [
        ("Containers", doc.get("Containers")), (" Running", doc.get("ContainersRunning")),
        (" Paused", doc.get("ContainersPaused")), (" Stopped", doc.get("ContainersStopped")),
        ("Images", doc.get("Images")), ("Server Version", doc.get("ServerVersion")),
        ("Storage Driver", doc.get("Driver")), ("Logging Driver", doc.get("LoggingDriver")),
        ("Cgroup Driver", doc.get("CgroupDriver")), ("Cgroup Version", doc.get("CgroupVersion")),
        ("Runtimes", " ".join(sorted(doc.get("Runtimes") or {}))),
        ("Default Runtime", doc.get("DefaultRuntime")),
        ("Kernel Version", doc.get("KernelVersion")),
        ("Operating System", doc.get("OperatingSystem")), ("OSType", doc.get("OSType")),
        ("Architecture", doc.get("Architecture")), ("CPUs", doc.get("NCPU")),
        ("Total Memory", bytes_size(doc.get("MemTotal") or 0)), ("Name", doc.get("Name")),
        ("ID", doc.get("ID")), ("Docker Root Dir", doc.get("DockerRootDir")),
        ("Debug Mode", str(bool(doc.get("Debug"))).lower()),
        ("Experimental", str(bool(doc.get("ExperimentalBuild"))).lower()),
        ("Live Restore Enabled", str(bool(doc.get("LiveRestoreEnabled"))).lower()),
    ]
    out = ["Client:", f" Version:    {client['Version']}", " Context:    default",
           " Debug Mode: false", "", "Server:"]
    out += [f" {k}: {v}" for k, v in rows if v is not None and v != ""]
    for w in doc.get("Warnings") or []:
        out.append(w)
    ctx.stdout.write("\n".join(out) + "\n")
    return 0


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


def _reclaimable(part: int, total: int, percent: bool = True) -> str:
    from hako.support.units import human_size

    if not percent:
        return human_size(part)
    pct = int(100 * part / total) if total else 0
    return f"{human_size(part)} ({pct}%)"


def df(ctx: Any, argv: list[str]) -> int:
    """hako system df [-v] [--format F]: docker's disk usage summary (``GET /system/df``)."""
    from hako.cli import formatting as fmt
    from hako.support.units import human_size

    p = Parser("system df", "[OPTIONS]")
    p.flag("-v", "--verbose")
    p.option("--format")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_most=0)
    doc = ctx.api.system.df()
    images = doc.get("Images") or []
    containers = doc.get("Containers") or []
    volumes = doc.get("Volumes") or []
    if not opts.verbose:
        img_size = int(doc.get("LayersSize") or 0)
        img_free = sum(int(i.get("Size") or 0) - int(i.get("SharedSize") or 0)
                       for i in images if not i.get("Containers"))
        c_size = sum(int(c.get("SizeRw") or 0) for c in containers)
        c_free = sum(int(c.get("SizeRw") or 0) for c in containers if c.get("State") != "running")
        v_size = sum(int((v.get("UsageData") or {}).get("Size") or 0) for v in volumes)
        v_free = sum(int((v.get("UsageData") or {}).get("Size") or 0) for v in volumes
                     if not (v.get("UsageData") or {}).get("RefCount"))
        rows = [
            {"Type": "Images", "TotalCount": str(len(images)),
             "Active": str(sum(1 for i in images if i.get("Containers"))),
             "Size": human_size(img_size), "Reclaimable": _reclaimable(img_free, img_size)},
            {"Type": "Containers", "TotalCount": str(len(containers)),
             "Active": str(sum(1 for c in containers if c.get("State") == "running")),
             "Size": human_size(c_size), "Reclaimable": _reclaimable(c_free, c_size)},
            {"Type": "Local Volumes", "TotalCount": str(len(volumes)),
             "Active": str(sum(1 for v in volumes if (v.get("UsageData") or {}).get("RefCount"))),
             "Size": human_size(v_size), "Reclaimable": _reclaimable(v_free, v_size)},
            {"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": human_size(0),
             "Reclaimable": _reclaimable(0, 0, percent=False)},
        ]
        headers = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
                   "Reclaimable": "RECLAIMABLE"}
        template = opts.format or ("table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t"
                                   "{{.Reclaimable}}")
        ctx.stdout.write(fmt.render(template, rows, headers))
        return 0
    ctx.out("Images space usage:\n")
    rows = [{"Repository": (i.get("RepoTags") or ["<none>:<none>"])[0].rsplit(":", 1)[0],
             "Tag": (i.get("RepoTags") or ["<none>:<none>"])[0].rsplit(":", 1)[-1],
             "ID": fmt.truncate_id(i.get("Id", "")),
             "Size": human_size(int(i.get("Size") or 0)),
             "SharedSize": human_size(int(i.get("SharedSize") or 0)),
             "UniqueSize": human_size(int(i.get("Size") or 0) - int(i.get("SharedSize") or 0)),
             "Containers": str(i.get("Containers") or 0)} for i in images]
    ctx.stdout.write(fmt.render(
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}\t{{.SharedSize}}\t"
        "{{.UniqueSize}}\t{{.Containers}}", rows,
        {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Size": "SIZE",
         "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS"}))
    ctx.out("\nContainers space usage:\n")
    rows = [{"ID": fmt.truncate_id(c.get("Id", "")), "Image": c.get("Image", ""),
             "Command": json.dumps(c.get("Command", "")),
             "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Type") == "volume")),
             "Size": human_size(int(c.get("SizeRw") or 0)), "Status": c.get("Status", ""),
             "Names": ",".join(n.lstrip("/") for n in c.get("Names") or [])} for c in containers]
    ctx.stdout.write(fmt.render(
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.Status}}\t"
        "{{.Names}}", rows,
        {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
         "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "Status": "STATUS", "Names": "NAMES"}))
    ctx.out("\nLocal Volumes space usage:\n")
    rows = [{"Name": v.get("Name", ""),
             "Links": str((v.get("UsageData") or {}).get("RefCount", 0)),
             "Size": human_size(int((v.get("UsageData") or {}).get("Size") or 0))} for v in volumes]
    ctx.stdout.write(fmt.render("table {{.Name}}\t{{.Links}}\t{{.Size}}", rows,
                                {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}))
    ctx.out("\nBuild cache usage: 0B\n")
    return 0
