"""Output formatting like the docker CLI: tables (Go tabwriter, padding 3), ``--format``
templates, truncation, human durations and sizes, ps and images rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from hako.cli.gotemplate import Template
from hako.support.units import human_duration, human_size  # noqa: F401 - re-exported

ELLIPSIS = "…"
TABLE_MIN_WIDTH, TABLE_PADDING = 10, 3


def ago(created: float, now: float | None = None) -> str:
    """"2 minutes ago" for a unix timestamp."""
    now = time.time() if now is None else now
    return human_duration(now - created) + " ago"


def rfc3339(ts: float) -> str:
    """Go's time.RFC3339 in local time ("2024-01-02T03:04:05Z" in UTC)."""
    from datetime import datetime

    text = datetime.fromtimestamp(int(ts)).astimezone().isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def ellipsis(text: str, width: int) -> str:
    """Truncate to ``width`` characters, the last one being "…"."""
    if len(text) <= width:
        return text
    return text[: width - 1] + ELLIPSIS if width > 1 else text[:width]


def truncate_id(value: str) -> str:
    """``sha256:abc…`` or a 64-hex id → first 12 hex characters."""
    if ":" in value:
        value = value.split(":", 1)[1]
    return value[:12]


def tabwrite(lines: Iterable[str], minwidth: int = TABLE_MIN_WIDTH,
             padding: int = TABLE_PADDING) -> str:
    """Align tab-separated cells like Go's text/tabwriter (cells padded with spaces).

    The text after a line's last tab is not a column cell and is never padded.
    """
    rows = [line.split("\t") for line in lines]
    ncols = max((len(r) - 1 for r in rows), default=0)
    widths = []
    for col in range(ncols):
        cells = [len(r[col]) for r in rows if len(r) - 1 > col]
        widths.append(max([minwidth] + [c + padding for c in cells]))
    out = []
    for r in rows:
        cells = [c.ljust(widths[i]) for i, c in enumerate(r[:-1])]
        out.append("".join(cells) + r[-1])
    return "".join(line + "\n" for line in out)


def _prepare(fmt: str) -> tuple[bool, str]:
    table = fmt.startswith("table")
    if table:
        fmt = fmt[len("table"):]
    fmt = fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return table, fmt


def render(fmt: str, rows: list[dict[str, Any]], headers: dict[str, str],
           raw: list[Any] | None = None) -> str:
    """Render rows through a docker ``--format`` string.

    Args:
        fmt: "table …", a Go template, or "json" (one JSON object per line).
        rows: one dict of display fields per item.
        headers: field name → column header for table formats.
        raw: objects for ``json`` output (defaults to ``rows``).

    Raises:
        TemplateError: the template is invalid.
    """
    if fmt == "json":
        return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in (raw or rows))
    table, body = _prepare(fmt)
    tmpl = Template(body)
    lines = [tmpl.render(r) for r in rows]
    if not table:
        return "".join(line + "\n" for line in lines)
    head = tmpl.render({k: headers.get(k, k.upper()) for k in _fields_of(rows, headers)})
    text = "\n".join([head] + lines)
    return tabwrite(text.split("\n"))


def _fields_of(rows: list[dict[str, Any]], headers: dict[str, str]) -> list[str]:
    keys = list(headers)
    for r in rows[:1]:
        keys += [k for k in r if k not in headers]
    return keys


# -- containers ---------------------------------------------------------------------------

PS_HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
    "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
    "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES",
}
PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def go_quote(text: str) -> str:
    """strconv.Quote for printable text."""
    return json.dumps(text, ensure_ascii=False).replace("\\u007f", "\\x7f")


def display_ports(ports: list[dict[str, Any]]) -> str:
    """Docker's ``DisplayablePorts``: ranges grouped, then host mappings."""
    ports = sorted(ports or [], key=lambda p: (p.get("PrivatePort", 0), p.get("IP", ""),
                                               p.get("PublicPort", 0), p.get("Type", "")))
    groups: dict[str, list[int]] = {}
    result: list[str] = []
    host_maps: list[str] = []

    def form(key: str, first: int, last: int) -> str:
        ip, _, kind = key.rpartition("/")
        group = str(first) if first == last else f"{first}-{last}"
        if ip:
            host = f"[{ip}]" if ":" in ip else ip
            group = f"{host}:{group}->{group}"
        return f"{group}/{kind}"

    for p in ports:
        cur, kind, ip = p.get("PrivatePort", 0), p.get("Type", "tcp"), p.get("IP", "")
        key = kind
        if ip:
            if p.get("PublicPort") != cur:
                host = f"[{ip}]" if ":" in ip else ip
                host_maps.append(f"{host}:{p.get('PublicPort', 0)}->{cur}/{kind}")
                continue
            key = f"{ip}/{kind}"
        g = groups.get(key)
        if g is None:
            groups[key] = [cur, cur]
        elif cur == g[1] + 1:
            g[1] = cur
        else:
            result.append(form(key, g[0], g[1]))
            groups[key] = [cur, cur]
    result += [form(k, g[0], g[1]) for k, g in groups.items()]
    return ", ".join(result + host_maps)


def container_row(c: dict[str, Any], trunc: bool = True, now: float | None = None
                  ) -> dict[str, Any]:
    """One ``ps`` row's display fields from a /containers/json entry."""
    names = [n[1:] if n.startswith("/") else n for n in c.get("Names") or []]
    if trunc:
        primary = [n for n in names if "/" not in n]
        names = primary[:1] or names
    command = c.get("Command", "")
    image = c.get("Image", "") or "<no image>"
    if trunc and truncate_id(c.get("ImageID", "")) == truncate_id(image):
        image = truncate_id(image)
    created = c.get("Created", 0)
    size = ""
    if "SizeRw" in c or "SizeRootFs" in c:
        srw = human_size(c.get("SizeRw") or 0)
        size = srw
        if c.get("SizeRootFs"):
            size = f"{srw} (virtual {human_size(c['SizeRootFs'])})"
    labels = c.get("Labels") or {}
    return {
        "ID": truncate_id(c.get("Id", "")) if trunc else c.get("Id", ""),
        "Image": image,
        "Command": go_quote(ellipsis(command, 20) if trunc else command),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created)),
        "RunningFor": ago(created, now),
        "Ports": display_ports(c.get("Ports") or []),
        "State": c.get("State", ""),
        "Status": c.get("Status", ""),
        "Size": size,
        "Names": ",".join(names),
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
        "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in c.get("Mounts") or []),
        "Networks": ",".join(sorted(((c.get("NetworkSettings") or {}).get("Networks") or {}))),
    }


# -- images -------------------------------------------------------------------------------

IMAGES_HEADERS = {
    "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
    "Containers": "CONTAINERS", "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}
IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_TABLE_DIGESTS = ("table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t"
                        "{{.CreatedSince}}\t{{.Size}}")


def familiar(name: str) -> str:
    """``docker.io/library/busybox`` → ``busybox``."""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _split_ref(ref: str, sep: str) -> tuple[str, str]:
    if sep == ":":
        repo, _, tag = ref.rpartition(":")
        if "/" in tag:
            return ref, ""
        return repo, tag
    repo, _, digest = ref.partition("@")
    return repo, digest


def image_rows(img: dict[str, Any], trunc: bool = True, digests: bool = False,
               now: float | None = None) -> list[dict[str, Any]]:
    """The ``images`` rows of one /images/json entry (one per repo:tag)."""
    tags = [t for t in img.get("RepoTags") or [] if t != "<none>:<none>"]
    dgs = [d for d in img.get("RepoDigests") or [] if d != "<none>@<none>"]
    base = {
        "ID": truncate_id(img.get("Id", "")) if trunc else img.get("Id", ""),
        "CreatedSince": ago(img.get("Created", 0), now),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z",
                                   time.localtime(img.get("Created", 0))),
        "Size": human_size(img.get("Size") or 0),
        "VirtualSize": human_size(img.get("VirtualSize") or img.get("Size") or 0),
        "SharedSize": "N/A", "UniqueSize": "N/A",
        "Containers": "N/A" if img.get("Containers", -1) < 0 else str(img["Containers"]),
    }
    if not tags and not dgs:
        return [dict(base, Repository="<none>", Tag="<none>", Digest="<none>")]
    repo_tags: dict[str, list[str]] = {}
    repo_digests: dict[str, list[str]] = {}
    for t in tags:
        repo, tag = _split_ref(t, ":")
        repo_tags.setdefault(familiar(repo), []).append(tag)
    for d in dgs:
        repo, dg = _split_ref(d, "@")
        repo_digests.setdefault(familiar(repo), []).append(dg)
    rows = []
    for repo, tag_list in repo_tags.items():
        ds = repo_digests.pop(repo, []) if digests else (repo_digests.pop(repo, None) and [])
        for tag in tag_list:
            for dg in ds or ["<none>"]:
                rows.append(dict(base, Repository=repo, Tag=tag, Digest=dg))
    for repo, ds in repo_digests.items():
        if digests:
            rows += [dict(base, Repository=repo, Tag="<none>", Digest=dg) for dg in ds]
        else:
            rows.append(dict(base, Repository=repo, Tag="<none>", Digest=""))
    return rows


def print_json_indent(obj: Any, write: Callable[[str], Any]) -> None:
    """docker inspect's output: a JSON array indented by 4 spaces, HTML-escaped like Go."""
    text = json.dumps(obj, indent=4, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    write(text + "\n")
