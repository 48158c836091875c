"""Which registry endpoints serve a reference, and how to reach them (dockerd's rules).

``docker.io`` is served by the ``--registry-mirror`` URLs first, then ``registry-1.docker.io``.
A registry is insecure (unverified TLS, then plain HTTP) when its host is listed with
``--insecure-registry`` (host[:port] or a CIDR) or is in 127.0.0.0/8 (always, as dockerd).

Layer 4. May import: errors, support, oci.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from hako.errors import InvalidArgument
from hako.oci.reference import DEFAULT_DOMAIN

DOCKER_HUB_HOST = "registry-1.docker.io"
DEFAULT_INSECURE = ("127.0.0.0/8",)


@dataclass(frozen=True)
class Endpoint:
    host: str  # host[:port] as dialled
    base_url: str  # "" to let the client pick the scheme
    insecure: bool
    mirror: bool = False


@dataclass(frozen=True)
class RegistryOptions:
    """Frozen registry settings from the daemon's flags."""

    mirrors: tuple[str, ...] = ()
    insecure: tuple[str, ...] = ()
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    _nets: tuple = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        nets, hosts = [], []
        for item in (*DEFAULT_INSECURE, *self.insecure):
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.append(item.lower())
        object.__setattr__(self, "_nets", (tuple(nets), tuple(hosts)))
        for m in self.mirrors:
            parts = urlsplit(m)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise InvalidArgument(f"invalid mirror: {m!r}: must be an http(s) URL")

    def is_insecure(self, host: str) -> bool:
        nets, hosts = self._nets
        if host.lower() in hosts:
            return True
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        name = name.strip("[]")
        if name == "localhost" or name.lower() in hosts:
            return True
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return False
        return any(ip in n for n in nets)

    def endpoints(self, domain: str) -> list[Endpoint]:
        """Endpoints to try, in order, for a reference's domain."""
        if domain != DEFAULT_DOMAIN:
            return [Endpoint(domain, "", self.is_insecure(domain))]
        out = []
        for m in self.mirrors:
            parts = urlsplit(m)
            insecure = self.is_insecure(parts.netloc)
            out.append(Endpoint(parts.netloc, f"{parts.scheme}://{parts.netloc}", insecure, True))
        out.append(Endpoint(DOCKER_HUB_HOST, "https://" + DOCKER_HUB_HOST, False))
        return out

    def push_endpoint(self, domain: str) -> Endpoint:
        """Pushes never go to a mirror."""
        if domain == DEFAULT_DOMAIN:
            return Endpoint(DOCKER_HUB_HOST, "https://" + DOCKER_HUB_HOST, False)
        return Endpoint(domain, "", self.is_insecure(domain))
