"""Legacy links (``--link name:alias``): the environment and hosts records moby gives the
linking container (daemon/links/links.go), and the ports a link opens under ``--icc=false``.

Layer: network (3). May import: errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from hako.errors import InvalidArgument


@dataclass(frozen=True)
class Link:
    """``name`` is moby's full link name, ``/<parent>/<alias>``."""

    name: str
    child_ip: str
    ports: tuple[tuple[int, str], ...]  # the child's exposed ports: (port, proto)
    child_env: tuple[str, ...]

    @property
    def alias(self) -> str:
        return self.name.rsplit("/", 1)[1]


def parse(spec: str) -> tuple[str, str]:
    """``name:alias`` or ``name`` (alias = name), leading slashes dropped → (name, alias).

    Raises:
        InvalidArgument: moby's texts for an empty spec or more than two parts; an empty
        part.
    """
    if not spec:
        raise InvalidArgument("empty string specified for links")
    if spec.count(":") > 1:
        raise InvalidArgument(f"bad format for links: {spec}")
    name, _, alias = spec.partition(":")
    name = name.lstrip("/")
    alias = (alias or name).lstrip("/").rsplit("/", 1)[-1]
    if not name or not alias:
        raise InvalidArgument(f"invalid link specification: {spec}")
    return name, alias


def _sorted(ports: tuple[tuple[int, str], ...]) -> list[tuple[int, str]]:
    # moby: by number, tcp first on a tie
    return sorted(ports, key=lambda p: (p[0], 0 if p[1].lower() == "tcp" else 1))


def _next_contiguous(ports: list[tuple[int, str]], value: int, index: int) -> int:
    if index + 1 == len(ports):
        return index
    for i in range(index + 1, len(ports)):
        if ports[i][0] > value + 1:
            return i - 1
        value += 1
    return len(ports) - 1


def env(link: Link) -> list[str]:
    """moby's Link.ToEnv, line for line."""
    alias = link.alias.upper().replace("-", "_")
    ip = link.child_ip
    ports = _sorted(link.ports)
    out: list[str] = []
    if ports:
        port, proto = ports[0]
        out.append(f"{alias}_PORT={proto}://{ip}:{port}")
    i = 0
    while i < len(ports):
        port, proto = ports[i]
        j = _next_contiguous(ports, port, i)
        if j > i + 1:
            up = proto.upper()
            out += [f"{alias}_PORT_{port}_{up}_START={proto}://{ip}:{port}",
                    f"{alias}_PORT_{port}_{up}_ADDR={ip}",
                    f"{alias}_PORT_{port}_{up}_PROTO={proto}",
                    f"{alias}_PORT_{port}_{up}_PORT_START={port}"]
            q_port, q_proto = ports[j]
            out += [f"{alias}_PORT_{port}_{q_proto.upper()}_END={q_proto}://{ip}:{q_port}",
                    f"{alias}_PORT_{port}_{q_proto.upper()}_PORT_END={q_port}"]
        for k in range(i, j + 1):
            p, pr = ports[k]
            up = pr.upper()
            out += [f"{alias}_PORT_{p}_{up}={pr}://{ip}:{p}", f"{alias}_PORT_{p}_{up}_ADDR={ip}",
                    f"{alias}_PORT_{p}_{up}_PORT={p}", f"{alias}_PORT_{p}_{up}_PROTO={pr}"]
        i = j + 1
    out.append(f"{alias}_NAME={link.name}")
    for item in link.child_env:
        key, sep, value = item.partition("=")
        if not sep or key in ("HOME", "PATH"):
            continue
        out.append(f"{alias}_ENV_{key}={value}")
    return out


def hosts_names(alias: str, child_hostname: str, child_name: str) -> str:
    """The names of a link's hosts record: alias, the child's hostname, and its name when
    the alias differs."""
    names = f"{alias} {child_hostname}"
    return names if alias == child_name else f"{names} {child_name}"


def exposed(exposed_ports: dict | None) -> tuple[tuple[int, str], ...]:
    out = []
    for key in exposed_ports or {}:
        port, _, proto = key.partition("/")
        out.append((int(port), proto or "tcp"))
    return tuple(out)


def endpoint_aliases(specs: list[str] | None) -> dict[str, str]:
    """The links of an endpoint on a user-defined network (``EndpointSettings.Links``,
    ``name:alias``): alias → container name, lower-cased. They are names only the linking
    container resolves (libnetwork's ``CreateOptionAlias``); no environment, no hosts
    records, no firewall rules, as on Docker.

    Raises:
        InvalidArgument: an empty name or alias.
    """
    out = {}
    for spec in specs or []:
        name, alias = parse(spec)
        out[alias.lower()] = name.lower()
    return out
