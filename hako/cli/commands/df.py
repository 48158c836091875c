"""``system df`` (``-v``, ``--format``): docker's disk usage report (``GET /system/df``).

Without ``-v`` the rows are the four summary lines; with ``-v`` the template sees docker's
``{Images, Containers, Volumes, BuildCache}``, each a list of rows with docker's fields.
"""

from __future__ import annotations

from typing import Any

from hako.cli import formatting as fmt
from hako.cli.parsing import Parser
from hako.support.units import human_size

SUMMARY_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
                   "Reclaimable": "RECLAIMABLE"}
SUMMARY = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
                 "CreatedSince": "CREATED", "Size": "SIZE",
                 "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
                 "Containers": "CONTAINERS"}
IMAGE_TABLE = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t"
               "{{.SharedSize}}\t"
               "{{.UniqueSize}}\t{{.Containers}}")
CONTAINER_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
                     "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE",
                     "RunningFor": "CREATED", "Status": "STATUS",
                     "Names": "NAMES"}
CONTAINER_TABLE = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t"
                   "{{.RunningFor}}\t{{.Status}}\t{{.Names}}")
VOLUME_HEADERS = {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}


def _size4(size: float) -> str:
    """go-units HumanSize: 4 significant digits ("1.982MB")."""
    return human_size(size, 4)


def _reclaimable(part: int, total: int) -> str:
    if not total:
        return _size4(part)
    return f"{_size4(part)} ({int(100 * part / total)}%)"


def _usage(v: dict[str, Any]) -> dict[str, Any]:
    return v.get("UsageData") or {}


def summary_rows(doc: dict[str, Any]) -> list[dict[str, str]]:
    images, containers = doc.get("Images") or [], doc.get("Containers") or []
    volumes = doc.get("Volumes") or []
    img_size = int(doc.get("LayersSize") or 0)
    img_free = sum(int(i.get("Size") or 0) - int(i.get("SharedSize") or 0)
                   for i in images if not i.get("Containers"))
    c_size = sum(int(c.get("SizeRw") or 0) for c in containers)
    c_free = sum(int(c.get("SizeRw") or 0) for c in containers if c.get("State") != "running")
    v_size = sum(int(_usage(v).get("Size") or 0) for v in volumes)
    v_free = sum(int(_usage(v).get("Size") or 0) for v in volumes if not _usage(v).get("RefCount"))
    return [
        {"Type": "Images", "TotalCount": str(len(images)),
         "Active": str(sum(1 for i in images if i.get("Containers"))),
         "Size": _size4(img_size), "Reclaimable": _reclaimable(img_free, img_size)},
        {"Type": "Containers", "TotalCount": str(len(containers)),
         "Active": str(sum(1 for c in containers if c.get("State") == "running")),
         "Size": _size4(c_size), "Reclaimable": _reclaimable(c_free, c_size)},
        {"Type": "Local Volumes", "TotalCount": str(len(volumes)),
         "Active": str(sum(1 for v in volumes if _usage(v).get("RefCount"))),
         "Size": _size4(v_size), "Reclaimable": _reclaimable(v_free, v_size)},
        {"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B",
         "Reclaimable": "0B"},
    ]


def image_rows(images: list[dict[str, Any]], trunc: bool = True) -> list[dict[str, str]]:
    rows = []
    for i in images:
        ref = (i.get("RepoTags") or ["<none>:<none>"])[0]
        size, shared = int(i.get("Size") or 0), int(i.get("SharedSize") or 0)
        created = i.get("Created") or 0
        rows.append({"Containers": str(i.get("Containers") or 0),
                     "CreatedAt": fmt.container_row({"Created": created})["CreatedAt"],
                     "CreatedSince": fmt.ago(created), "Digest": "",
                     "ID": fmt.truncate_id(i.get("Id", "")) if trunc else i.get("Id", ""),
                     "Repository": ref.rsplit(":", 1)[0], "SharedSize": human_size(shared),
                     "Size": human_size(size), "Tag": ref.rsplit(":", 1)[-1],
                     "UniqueSize": _size4(size - shared), "VirtualSize": _size4(size)})
    return rows


def container_rows(containers: list[dict[str, Any]], trunc: bool = True) -> list[dict[str, str]]:
    rows = []
    for c in containers:
        row = fmt.container_row(c, trunc=trunc)
        row["Command"] = fmt.go_quote(c.get("Command", ""))
        row["LocalVolumes"] = str(sum(1 for m in c.get("Mounts") or []
                                      if m.get("Type") == "volume"))
        row["Size"] = human_size(int(c.get("SizeRw") or 0))
        rows.append(row)
    return rows


def volume_rows(volumes: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"Availability": "N/A", "Driver": v.get("Driver", ""), "Group": "N/A",
             "Labels": ",".join(f"{k}={x}" for k, x in (v.get("Labels") or {}).items()),
             "Links": str(_usage(v).get("RefCount", 0)), "Mountpoint": v.get("Mountpoint", ""),
             "Name": v.get("Name", ""), "Scope": v.get("Scope", "local"),
             "Size": _size4(int(_usage(v).get("Size") or 0)), "Status": "N/A"}
            for v in volumes]


def df(ctx: Any, argv: list[str]) -> int:
    """hako system df [-v] [--format F]"""
    p = Parser("system df", "[OPTIONS]")
    p.flag("-v", "--verbose")
    p.option("--format")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_most=0)
    doc = ctx.api.system.df()
    if not opts.verbose:
        template = SUMMARY if opts.format in (None, "", "table") else opts.format
        ctx.stdout.write(fmt.render(template, summary_rows(doc), SUMMARY_HEADERS))
        return 0
    images = image_rows(doc.get("Images") or [], trunc=not opts.format)
    containers = container_rows(doc.get("Containers") or [], trunc=not opts.format)
    volumes = volume_rows(doc.get("Volumes") or [])
    if opts.format and opts.format != "table":
        report = {"Images": images, "Containers": containers, "Volumes": volumes,
                  "BuildCache": []}
        template = "{{json .}}" if opts.format == "json" else opts.format
        ctx.stdout.write(fmt.render(template, [report], {}))
        return 0
    ctx.out("Images space usage:\n")
    ctx.stdout.write(fmt.render(IMAGE_TABLE, images, IMAGE_HEADERS))
    ctx.out("\nContainers space usage:\n")
    ctx.stdout.write(fmt.render(CONTAINER_TABLE, containers, CONTAINER_HEADERS))
    ctx.out("\nLocal Volumes space usage:\n")
    ctx.stdout.write(fmt.render("table {{.Name}}\t{{.Links}}\t{{.Size}}", volumes,
                                VOLUME_HEADERS))
    ctx.out("\nBuild cache usage: 0B\n")
    ctx.out("CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED")
    return 0
