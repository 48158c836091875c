"""Log drivers and their options, as dockerd: the daemon default, validation at create,
and what the shim is told to write at start.

Layer: daemon (6). May import: errors, support.units.

Drivers: ``json-file`` (``containers/<id>/<id>-json.log``), ``local`` (the same line format
under ``containers/<id>/local-logs/container.log``, with Docker's local defaults: max-size
20 MiB, max-file 5, compressed) and ``none`` (nothing written; ``logs`` answers 501).
Other built-in Docker drivers (syslog, journald, gelf, …) are refused with a 400 naming
them; any other name gets Docker's plugin-lookup error.

Checks happen where dockerd makes them: option *keys* at create (400); option *values*
when the logger starts (the container start fails with a 500, "failed to initialize
logging driver: …", and the container stays created).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from hako.errors import Internal, InvalidArgument, Unsupported

DRIVERS = ("json-file", "local", "none")
_NOT_IMPLEMENTED = ("syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs",
                    "gcplogs", "logentries")
_JSON_KEYS = ("max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag")
_LOCAL_KEYS = ("max-file", "max-size", "compress")
LOCAL_DEFAULTS = {"max_size": 20 * 1024 * 1024, "max_file": 5, "compress": True}


def driver(host_config: dict[str, Any]) -> str:
    """The container's log driver (json-file when the record has none)."""
    return (host_config.get("LogConfig") or {}).get("Type") or "json-file"


def log_path(root: str, cid: str, name: str) -> str:
    """Where driver ``name`` keeps a container's live log ("" for none)."""
    if name == "local":
        return os.path.join(root, "local-logs", "container.log")
    if name == "none":
        return ""
    return os.path.join(root, f"{cid}-json.log")


def merge(log_config: dict[str, Any] | None, default_type: str, default_opts: dict[str, str]) -> dict[str, Any]:
    """dockerd's mergeAndVerifyLogConfig without the verify: an empty Type is the daemon's
    default driver, whose default options fill the keys the container did not set."""
    cfg = log_config or {}
    kind = cfg.get("Type") or default_type
    conf = dict(cfg.get("Config") or {})  # strings (daemon/wiretypes.py)
    if kind == default_type:
        for key, value in default_opts.items():
            conf.setdefault(key, value)
    return {"Type": kind, "Config": conf}


def validate(log_config: dict[str, Any]) -> None:
    """Check the driver and its option keys (dockerd's ValidateLogOpts).

    Raises:
        InvalidArgument: with Docker's text.
    """
    kind = log_config.get("Type") or "json-file"
    if kind == "none":
        return
    if kind in _NOT_IMPLEMENTED:
        raise InvalidArgument(f"HostConfig.LogConfig.Type is not supported yet (the {kind} log driver)")
    if kind not in DRIVERS:
        raise InvalidArgument(f'error looking up logging plugin {kind}: plugin "{kind}" not found')
    for key in log_config.get("Config") or {}:
        if kind == "json-file" and key not in _JSON_KEYS:
            raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
        if kind == "local" and key not in _LOCAL_KEYS:
            raise InvalidArgument(f"unknown log opt '{key}' for log driver local")


def writer_options(c: Any) -> dict[str, Any]:
    """What the shim writes for container ``c``: ``max_size``, ``max_file``, ``compress`` and
    ``attrs`` (JSON text) as ``shimclient.spawn`` takes them.

    Raises:
        Internal: a bad option value, with dockerd's "failed to initialize logging driver" text.
    """
    kind = driver(c.host_config)
    conf = (c.host_config.get("LogConfig") or {}).get("Config") or {}
    try:
        if kind == "local":
            return _local_options(conf)
        if kind == "json-file":
            return _json_file_options(conf, c)
    except (ValueError, InvalidArgument) as exc:
        raise Internal(f"failed to initialize logging driver: {exc}") from None
    return {}


def _atoi(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def _parse_bool(text: str) -> bool:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def _json_file_options(conf: dict[str, str], c: Any) -> dict[str, Any]:
    from hako.support.units import parse_human_size

    max_size, max_file, compress = -1, 1, False
    if "max-size" in conf:
        max_size = parse_human_size(conf["max-size"])
        if max_size <= 0:
            raise ValueError("max-size must be a positive number")
    if "max-file" in conf:
        max_file = _atoi(conf["max-file"])
        if max_file < 1:
            raise ValueError("max-file cannot be less than 1")
    if "compress" in conf:
        compress = _parse_bool(conf["compress"])
        if compress and (max_file == 1 or max_size == -1):
            raise ValueError("compress cannot be true when max-file is less than 2 or max-size is not set")
    attrs = extra_attributes(conf, c.config.get("Labels") or {}, c.config.get("Env") or [])
    if conf.get("tag"):
        attrs["tag"] = render_tag(conf["tag"], c)
    text = json.dumps(attrs, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if attrs else ""
    return {"max_size": max_size, "max_file": max_file, "compress": compress, "attrs": text}


def _local_options(conf: dict[str, str]) -> dict[str, Any]:
    from hako.support.units import parse_human_size

    out = dict(LOCAL_DEFAULTS)
    if "max-size" in conf:
        try:
            out["max_size"] = parse_human_size(conf["max-size"])
        except InvalidArgument as exc:
            raise ValueError(f"invalid value for max-size: {conf['max-size']}: {exc}") from None
    if "max-file" in conf:
        try:
            out["max_file"] = _atoi(conf["max-file"])
        except ValueError as exc:
            raise ValueError(f"invalid value for max-file: {conf['max-file']}: {exc}") from None
    if "compress" in conf:
        try:
            out["compress"] = _parse_bool(conf["compress"])
        except ValueError as exc:
            raise ValueError(f"error reading compress log option: {exc}") from None
    if out["max_file"] < 0:
        raise ValueError("max file count cannot be less than 0")
    if out["compress"] and out["max_file"] <= 1:
        raise ValueError("compression cannot be enabled when max file count is 1")
    return {**out, "max_file": max(out["max_file"], 1), "attrs": ""}


def extra_attributes(conf: dict[str, str], labels: dict[str, str], env: list[str]) -> dict[str, str]:
    """Docker's logger.Info.ExtraAttributes: the labels and env variables the options name
    (``labels``, ``env``: comma lists; ``labels-regex``, ``env-regex``: searched patterns).

    Raises:
        ValueError: a pattern does not compile (Docker's "error parsing regexp" text).
    """
    extra: dict[str, str] = {}
    for key in filter(None, (conf.get("labels") or "").split(",")):
        if key in labels:
            extra[key] = labels[key]
    _match(conf.get("labels-regex"), labels, extra)
    env_map = dict(e.split("=", 1) for e in env if "=" in e)
    for key in filter(None, (conf.get("env") or "").split(",")):
        if key in env_map:
            extra[key] = env_map[key]
    _match(conf.get("env-regex"), env_map, extra)
    return extra


def _match(pattern: str | None, values: dict[str, str], extra: dict[str, str]) -> None:
    if not pattern:
        return
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"error parsing regexp: {exc.msg}: `{pattern}`") from None
    extra.update({k: v for k, v in values.items() if regex.search(k)})


_TAG_FIELD = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")


def render_tag(template: str, c: Any) -> str:
    """The ``tag`` option: a Go template over Docker's logger.Info fields (``{{.ID}}``,
    ``{{.FullID}}``, ``{{.Name}}``, ``{{.ImageID}}``, ``{{.ImageFullID}}``,
    ``{{.ImageName}}``, ``{{.Hostname}}``, ``{{.Command}}``, ``{{.DaemonName}}``).

    Raises:
        ValueError: an unknown field or another template construct.
    """
    image = c.image.split(":", 1)[-1]
    fields = {"ID": c.id[:12], "FullID": c.id, "Name": c.name.lstrip("/"), "ImageID": image[:12],
              "ImageFullID": c.image, "ImageName": c.image_ref, "DaemonName": "docker",
              "Hostname": c.config.get("Hostname") or "", "Command": " ".join([c.path, *c.args])}

    def field(m: re.Match) -> str:
        if m.group(1) not in fields:
            raise ValueError(f'template: log-tag:1:{m.start() + 2}: executing "log-tag" at '
                             f"<.{m.group(1)}>: can't evaluate field {m.group(1)} in type *logger.Info")
        return fields[m.group(1)]

    text = _TAG_FIELD.sub(field, template)
    if "{{" in text or "}}" in text:
        raise ValueError(f"template: log-tag:1: unsupported template {template!r} (hako knows "
                         f"only {{{{.Field}}}} actions)")
    return text


def check_readable(host_config: dict[str, Any]) -> None:
    """Raises Unsupported (501, Docker's text) when the driver keeps nothing to read."""
    if driver(host_config) == "none":
        raise Unsupported("configured logging driver does not support reading")
