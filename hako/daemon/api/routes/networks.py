"""/networks endpoints: parse → NetworkService / ContainerService → render Docker's JSON."""

from __future__ import annotations

from typing import Any

from hako.daemon.api.router import EmptyResponse, JSONResponse, Request, Router
from hako.errors import InvalidArgument, NotFound, PermissionDenied
from hako.opts import filters as filtermod


def register(r: Router) -> None:
    r.add("GET", "/networks", list_networks)
    r.add("POST", "/networks/create", create)
    r.add("POST", "/networks/prune", prune)
    r.add("GET", "/networks/{id:.+}", inspect)
    r.add("DELETE", "/networks/{id:.+}", remove)
    r.add("POST", "/networks/{id}/connect", connect)
    r.add("POST", "/networks/{id}/disconnect", disconnect)


def _builtin(req: Request, name: str) -> dict[str, Any]:
    net = req.services.network
    base = {"Name": name, "Id": net.network_id(name), "Created": "0001-01-01T00:00:00Z", "Scope": "local",
            "Driver": {"bridge": "bridge", "host": "host", "none": "null"}[name], "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None, "Config": []}, "Internal": False,
            "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
            "Options": {}, "Labels": {}}
    if name == "bridge":
        base["IPAM"]["Config"] = [{"Subnet": net.subnet, "Gateway": net.gateway}]
        if net.subnet6:
            base["EnableIPv6"] = True
            base["IPAM"]["Config"].append({"Subnet": net.subnet6, "Gateway": net.gateway6})
        base["Options"] = {
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": str(net.config.icc).lower(),
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            "com.docker.network.bridge.name": net.config.bridge_device,
            "com.docker.network.driver.mtu": str(net.mtu)}
    return base


def _user(rec: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in rec.items() if k != "Device"}
    out.update({"ConfigFrom": {"Network": ""}, "ConfigOnly": False})
    return out


def _all(req: Request) -> list[dict[str, Any]]:
    return [_builtin(req, n) for n in ("bridge", "host", "none")] + \
        [_user(r) for r in req.services.network.store.networks.values()]


def _find(req: Request, ref: str) -> dict[str, Any]:
    store = req.services.network.store
    rec = store.find(ref)
    if rec is not None:
        return _user(rec)
    name = store.builtin_name(ref)
    if name is None:
        raise NotFound(f"network {ref} not found")
    return _builtin(req, name)


def _containers(req: Request, name: str) -> dict[str, Any]:
    out = {}
    for c in req.services.containers.list():
        st = (c.networking.get("Networks") or {}).get(name)
        if st and st.get("EndpointID"):
            out[c.id] = {"Name": c.name, "EndpointID": st["EndpointID"], "MacAddress": st["MacAddress"],
                         "IPv4Address": f"{st['IPAddress']}/{st['IPPrefixLen']}" if st["IPAddress"] else "",
                         "IPv6Address": f"{st['GlobalIPv6Address']}/{st['GlobalIPv6PrefixLen']}"
                         if st.get("GlobalIPv6Address") else ""}
    return out


def _matches(req: Request, n: dict[str, Any], f: dict[str, list[str]]) -> bool:
    if "name" in f and not any(v in n["Name"] for v in f["name"]):
        return False
    if "id" in f and not any(n["Id"].startswith(v) for v in f["id"]):
        return False
    if "driver" in f and n["Driver"] not in f["driver"]:
        return False
    if "label" in f and not filtermod.match_labels(f["label"], n.get("Labels")):
        return False
    if "type" in f:
        kind = "builtin" if n["Name"] in ("bridge", "host", "none") else "custom"
        if kind not in f["type"]:
            return False
    if "dangling" in f:
        used = bool(_containers(req, n["Name"]))
        want = f["dangling"][0] in ("1", "true")
        if (not used) != want or n["Name"] in ("bridge", "host", "none"):
            return False
    return True


async def list_networks(req: Request) -> JSONResponse:
    f = req.query_filters()
    unknown = sorted(set(f) - {"name", "id", "driver", "label", "type", "dangling", "scope"})
    if unknown:
        raise InvalidArgument(f"Invalid filter '{unknown[0]}'")
    out = []
    for n in _all(req):
        if _matches(req, n, f):
            out.append(dict(n, Containers={}))
    return JSONResponse(out)


async def inspect(req: Request) -> JSONResponse:
    n = _find(req, req.params["id"])
    return JSONResponse(dict(n, Containers=_containers(req, n["Name"])))


def _refuse_unsupported(body: dict) -> None:
    """Fields of a create that hako cannot honour: a 400 naming each (fail closed)."""
    ipam = body.get("IPAM") or {}
    refused = [
        ("ConfigOnly", bool(body.get("ConfigOnly")), "config-only networks"),
        ("ConfigFrom", bool((body.get("ConfigFrom") or {}).get("Network")),
         "networks made from a config-only network"),
        ("Scope", body.get("Scope") not in (None, "", "local"), "scopes other than local"),
        ("IPAM.Driver", ipam.get("Driver") not in (None, "", "default"),
         "IPAM drivers other than default"),
        ("IPAM.Options", bool(ipam.get("Options")), "IPAM driver options"),
    ]
    for name, bad, feature in refused:
        if bad:
            raise InvalidArgument(f"{name} is not supported yet ({feature})")


async def create(req: Request) -> JSONResponse:
    body = await req.json(default=None)
    if not isinstance(body, dict):
        raise InvalidArgument("network name must not be empty")
    labels = body.get("Labels")
    if labels is not None and not isinstance(labels, dict):
        raise InvalidArgument("Labels must be a map of strings")
    _refuse_unsupported(body)
    rec = await req.run(
        req.services.network.create_network, body.get("Name") or "", body.get("Driver") or "bridge",
        body.get("IPAM"), bool(body.get("Internal")), labels, body.get("Options"),
        bool(body.get("CheckDuplicate", True)), bool(body.get("Attachable")), bool(body.get("EnableIPv6")),
        bool(body.get("Ingress")))
    return JSONResponse({"Id": rec["Id"], "Warning": ""}, status=201)


async def remove(req: Request) -> EmptyResponse:
    n = _find(req, req.params["id"])
    if n["Name"] in ("bridge", "host", "none"):
        raise PermissionDenied(f"{n['Name']} is a pre-defined network and cannot be removed")
    if _containers(req, n["Name"]):
        raise PermissionDenied(f"error while removing network: network {n['Name']} id {n['Id']} has active endpoints")
    await req.run(req.services.network.remove_network, req.services.network.store.get(n["Id"]))
    return EmptyResponse(204)


async def prune(req: Request) -> JSONResponse:
    f = req.query_filters()
    deleted = []
    for n in list(req.services.network.store.networks.values()):
        if "label" in f and not filtermod.match_labels(f["label"], n.get("Labels")):
            continue
        in_use = any(n["Name"] in (c.networking.get("Networks") or {}) for c in req.services.containers.list())
        if not in_use:
            await req.run(req.services.network.remove_network, n)
            deleted.append(n["Name"])
    return JSONResponse({"NetworksDeleted": deleted or None})


async def connect(req: Request) -> EmptyResponse:
    from hako.daemon import fields

    body = await req.json(default=None) or {}
    fields.check_endpoint("EndpointConfig", body.get("EndpointConfig"))
    name = _find(req, req.params["id"])["Name"]
    fields.check_endpoint(name, body.get("EndpointConfig"))
    await req.services.containers.network_connect(body.get("Container") or "", name,
                                                  body.get("EndpointConfig") or {})
    return EmptyResponse(200)


async def disconnect(req: Request) -> EmptyResponse:
    body = await req.json(default=None) or {}
    name = _find(req, req.params["id"])["Name"]
    await req.services.containers.network_disconnect(body.get("Container") or "", name)
    return EmptyResponse(200)
