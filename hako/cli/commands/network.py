"""``network create|ls|inspect|rm|prune|connect|disconnect``, with docker's output."""

from __future__ import annotations

from typing import Any

from hako import errors
from hako.cli import formatting as fmt
from hako.cli.commands import confirm, for_each, print_deleted
from hako.cli.gotemplate import Template
from hako.cli.parsing import Parser
from hako.opts import filters as fopts

LS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
LS_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
              "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


def _labels(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def create(ctx: Any, argv: list[str]) -> int:
    """hako network create [OPTIONS] NETWORK"""
    p = Parser("network create", "[OPTIONS] NETWORK")
    p.option("-d", "--driver", default="bridge")
    p.multi("--subnet")
    p.multi("--gateway")
    p.multi("--ip-range")
    p.flag("--internal")
    p.flag("--attachable")
    p.flag("--ipv6")
    p.multi("--label")
    p.multi("-o", "--opt")
    p.multi("--aux-address")
    p.option("--config-from")
    p.flag("--config-only")
    p.flag("--ingress")
    p.option("--ipam-driver", default="default")
    p.multi("--ipam-opt")
    p.option("--scope")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    pools = []
    for i, subnet in enumerate(opts.subnet):
        pool = {"Subnet": subnet}
        if i < len(opts.gateway):
            pool["Gateway"] = opts.gateway[i]
        if i < len(opts.ip_range):
            pool["IPRange"] = opts.ip_range[i]
        if opts.aux_address:
            pool["AuxiliaryAddresses"] = _labels(opts.aux_address)
        pools.append(pool)
    body = {"Name": args[0], "CheckDuplicate": True, "Driver": opts.driver,
            "IPAM": {"Driver": opts.ipam_driver, "Config": pools,
                     "Options": _labels(opts.ipam_opt)},
            "Internal": opts.internal, "Attachable": opts.attachable, "EnableIPv6": opts.ipv6,
            "Options": _labels(opts.opt), "Labels": _labels(opts.label),
            "Ingress": opts.ingress, "ConfigOnly": opts.config_only,
            "Scope": opts.scope or ""}
    if opts.config_from:
        body["ConfigFrom"] = {"Network": opts.config_from}
    ctx.out(ctx.api.networks.create(body)["Id"])
    return 0


def ls(ctx: Any, argv: list[str]) -> int:
    """hako network ls [-q] [--no-trunc] [-f k=v] [--format F]"""
    p = Parser("network ls", "[OPTIONS]")
    p.flag("-q", "--quiet")
    p.flag("--no-trunc")
    p.multi("-f", "--filter")
    p.option("--format")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=0)
    items = ctx.api.networks.list(fopts.to_wire(fopts.parse_flags(opts.filter)))
    items.sort(key=lambda n: n["Name"])
    rows = [{"ID": n["Id"] if opts.no_trunc else n["Id"][:12], "Name": n["Name"], "Driver": n["Driver"],
             "Scope": n["Scope"], "IPv6": str(n.get("EnableIPv6", False)).lower(),
             "Internal": str(n.get("Internal", False)).lower(), "CreatedAt": n.get("Created", ""),
             "Labels": ",".join(f"{k}={v}" for k, v in (n.get("Labels") or {}).items())} for n in items]
    template = "{{.ID}}" if opts.quiet else (opts.format if opts.format and opts.format != "table" else LS_TABLE)
    ctx.stdout.write(fmt.render(template, rows, LS_HEADERS, raw=items))
    return 0


def inspect(ctx: Any, argv: list[str]) -> int:
    """hako network inspect [-f FORMAT] NETWORK..."""
    p = Parser("network inspect", "[OPTIONS] NETWORK [NETWORK...]")
    p.option("-f", "--format")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)
    found, status = [], 0
    for ref in args:
        try:
            found.append(ctx.api.networks.inspect(ref))
        except errors.NotFound:
            status = 1
            ctx.err(f"Error: No such network: {ref}")
    if opts.format:
        tmpl = Template(opts.format)
        for item in found:
            ctx.out(tmpl.render(item))
    else:
        fmt.print_json_indent(found, ctx.stdout.write)
    return status


def rm(ctx: Any, argv: list[str]) -> int:
    """hako network rm NETWORK..."""
    p = Parser("network rm", "NETWORK [NETWORK...]")
    p.flag("-f", "--force")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)

    def remove(ref: str) -> None:
        try:
            ctx.api.networks.remove(ref)
        except errors.NotFound:
            if not opts.force:  # -f: a network that does not exist is no error (docker 28)
                raise
    return for_each(ctx, args, remove)


def prune(ctx: Any, argv: list[str]) -> int:
    """hako network prune [-f] [--filter k=v]"""
    p = Parser("network prune", "[OPTIONS]")
    p.flag("-f", "--force")
    p.multi("--filter")
    opts, _ = p.parse(argv, ctx.stderr)
    if not opts.force and not confirm(ctx, "WARNING! This will remove all custom networks not "
                                           "used by at least one container."):
        return 0
    doc = ctx.api.networks.prune(fopts.to_wire(fopts.parse_flags(opts.filter))) or {}
    print_deleted(ctx, "Networks", doc.get("NetworksDeleted") or [])
    return 0


def connect(ctx: Any, argv: list[str]) -> int:
    """hako network connect [--ip IP] [--ip6 IP] [--alias A] [--link C:A] [--link-local-ip IP]
    [--driver-opt K=V] NETWORK CONTAINER"""
    p = Parser("network connect", "[OPTIONS] NETWORK CONTAINER")
    p.option("--ip")
    p.option("--ip6")
    p.multi("--alias")
    p.multi("--link")
    p.multi("--link-local-ip")
    p.multi("--driver-opt")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=2)
    config: dict[str, Any] = {"Aliases": opts.alias or None, "Links": opts.link or None,
                              "DriverOpts": _labels(opts.driver_opt) or None}
    ipam = {key: value for key, value in (("IPv4Address", opts.ip), ("IPv6Address", opts.ip6),
                                          ("LinkLocalIPs", opts.link_local_ip)) if value}
    if ipam:
        config["IPAMConfig"] = ipam
    ctx.api.networks.connect(args[0], args[1], config)
    return 0


def disconnect(ctx: Any, argv: list[str]) -> int:
    """hako network disconnect [-f] NETWORK CONTAINER"""
    p = Parser("network disconnect", "[OPTIONS] NETWORK CONTAINER")
    p.flag("-f", "--force")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=2)
    ctx.api.networks.disconnect(args[0], args[1], opts.force)
    return 0
