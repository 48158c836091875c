"""Container records → Docker's JSON (inspect, list). The only place CamelCase is produced
for containers; images shape their own JSON in routes/images.py."""

from __future__ import annotations

import calendar
import re
import time
from typing import Any

from hako.daemon import mounts
from hako.daemon.state import Container, Status, ZERO_TIME
from hako.support.units import human_duration


def parse_time(value: str) -> float:
    """RFC3339(Nano) UTC → unix seconds (0 for the zero time)."""
    if not value or value.startswith("0001-"):
        return 0.0
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", value)
    if not m:
        return 0.0
    base = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    return base + (float("0" + m.group(2)) if m.group(2) else 0.0)


def status_text(c: Container, now: float | None = None) -> str:
    """The ``Status`` column of ``docker ps``."""
    now = now or time.time()
    st = c.state
    if st.status in (Status.RUNNING, Status.PAUSED):
        text = "Up " + human_duration(now - parse_time(st.started_at))
        if st.status == Status.PAUSED:
            return text + " (Paused)"
        if st.health is not None:  # moby's Health.String()
            status = st.health.status
            return text + (" (health: starting)" if status == "starting" else f" ({status})")
        return text
    if st.status == Status.RESTARTING:
        return f"Restarting ({st.exit_code}) " + human_duration(now - parse_time(st.finished_at)) + " ago"
    if st.status == Status.REMOVING:
        return "Removal In Progress"
    if st.status == Status.DEAD:
        return "Dead"
    if st.status == Status.EXITED and st.finished_at != ZERO_TIME:
        return f"Exited ({st.exit_code}) " + human_duration(now - parse_time(st.finished_at)) + " ago"
    return "Created"


def state_json(c: Container) -> dict[str, Any]:
    st = c.state
    return {
        "Status": st.status.value,
        "Running": st.status in (Status.RUNNING, Status.PAUSED, Status.RESTARTING),
        "Paused": st.status == Status.PAUSED,
        "Restarting": st.status == Status.RESTARTING,
        "OOMKilled": st.oom_killed,
        "Dead": st.status == Status.DEAD,
        "Pid": st.pid if st.running else 0,
        "ExitCode": st.exit_code,
        "Error": st.error,
        "StartedAt": st.started_at,
        "FinishedAt": st.finished_at,
        **({"Health": st.health.to_doc()} if st.health is not None else {}),
    }


def _network_settings(c: Container) -> dict[str, Any]:
    from hako.daemon.netsetup import inspect_settings

    return inspect_settings(c)


def _list_ports(c: Container) -> list[dict[str, Any]]:
    from hako.daemon.netsetup import list_ports

    return list_ports(c)


def inspect_json(c: Container, graph_data: dict[str, str] | None = None,
                 sizes: tuple[int, int] | None = None) -> dict[str, Any]:
    """Docker's ContainerInspectResponse."""
    out: dict[str, Any] = {
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": state_json(c),
        "Image": c.image,
        "ResolvConfPath": c.file("resolv.conf"),
        "HostnamePath": c.file("hostname"),
        "HostsPath": c.file("hosts"),
        "LogPath": c.log_path if (c.host_config.get("LogConfig") or {}).get("Type") == "json-file" else "",
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": c.host_config,
        "GraphDriver": {"Name": "overlay2", "Data": graph_data or {}},
        "Mounts": mounts.inspect_json(c.mounts),
        "Config": c.config,
        "NetworkSettings": _network_settings(c),
    }
    if sizes is not None:
        out["SizeRw"], out["SizeRootFs"] = sizes
    return out


def list_json(c: Container, sizes: tuple[int, int] | None = None) -> dict[str, Any]:
    """One item of GET /containers/json."""
    command = " ".join([c.path, *c.args]) if c.path else ""
    out = {
        "Id": c.id,
        "Names": ["/" + c.name],
        "Image": c.image_ref,
        "ImageID": c.image,
        "Command": command,
        "Created": int(parse_time(c.created)),
        "Ports": _list_ports(c),
        "Labels": c.config.get("Labels") or {},
        "State": c.state.status.value,
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode") or "default"},
        "NetworkSettings": {"Networks": dict(c.networking.get("Networks") or {})},
        "Mounts": mounts.inspect_json(c.mounts),
    }
    if sizes is not None:
        out["SizeRw"], out["SizeRootFs"] = sizes
    return out
