"""The seed's Fig v1 files (``fig.yml``: services at the top level) → the Compose
Specification.

Fig's keys that the specification renamed are moved (``net`` → ``network_mode``,
``dockerfile`` → ``build.dockerfile``, ``log_driver``/``log_opt`` → ``logging``,
``volumes_from`` of a container that is not a service → ``container:NAME``); ``links`` and
``external_links`` keep their meaning. Line marks move with the keys.

May import: nothing internal.
"""

from __future__ import annotations

from typing import Any

from hako.compose.yamlfile import Marks

_TOP_KEYS = {"version", "name", "include", "services", "networks", "volumes", "secrets",
             "configs", "models"}


def is_v1(doc: dict[str, Any]) -> bool:
    """A v1 file: no ``services``/``version``, and every top-level value a service mapping."""
    if not doc or "services" in doc or "version" in doc:
        return False
    if any(isinstance(k, str) and k.startswith("x-") for k in doc):
        return False
    return all(isinstance(v, dict) for v in doc.values()) and \
        not set(doc) <= _TOP_KEYS


def convert(doc: dict[str, Any], marks: Marks) -> dict[str, Any]:
    """Wrap the services and rename Fig's keys (marks are rebased to ``services.<name>``)."""
    services: dict[str, Any] = {}
    for name, svc in doc.items():
        marks.rebase((name,), ("services", name))
        svc = dict(svc)
        base = ("services", name)
        if "net" in svc:
            net = svc.pop("net")
            svc["network_mode"] = net
            marks.rebase(base + ("net",), base + ("network_mode",))
        if "dockerfile" in svc:
            build = svc.get("build", ".")
            build = {"context": build} if isinstance(build, str) else dict(build)
            build["dockerfile"] = svc.pop("dockerfile")
            svc["build"] = build
        if isinstance(svc.get("volumes_from"), list):  # Fig named services or containers
            svc["volumes_from"] = [v if str(v).split(":")[0] in doc or
                                   str(v).startswith("container:") else f"container:{v}"
                                   for v in svc["volumes_from"]]
        if "log_driver" in svc or "log_opt" in svc:
            logging = {}
            if "log_driver" in svc:
                logging["driver"] = svc.pop("log_driver")
            if "log_opt" in svc:
                logging["options"] = svc.pop("log_opt")
            svc["logging"] = logging
        services[name] = svc
    return {"services": services}
