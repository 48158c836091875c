"""ComposeService against an in-memory Engine API: order, recreation, scale, teardown."""

from __future__ import annotations

import threading

import pytest

from hako import errors
from hako.compose import labels as L
from hako.compose.errors import ComposeError
from hako.compose.lifecycle import DownOptions, down, stop
from hako.compose.loader import Options, load_project
from hako.compose.project import ComposeService, UpOptions

pytestmark = pytest.mark.timeout(60)  # threads and polling loops: fail rather than hang


class FakeAPI:
    """Just enough of hako.client.APIClient, recording every call in order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.lock = threading.Lock()
        self.store: dict[str, dict] = {}
        self.nets: dict[str, dict] = {}
        self.vols: dict[str, dict] = {}
        self.health: dict[str, list[str]] = {}
        self.containers, self.networks, self.volumes, self.images = self, _Nets(self), \
            _Vols(self), _Images()
        self.n = 0

    def log(self, *call):
        with self.lock:
            self.calls.append(call)

    # containers
    def list(self, all=False, filters=None):  # noqa: A002 - the client's signature
        wanted = dict(f.split("=", 1) for f in (filters or {}).get("label", []))
        out = []
        for c in self.store.values():
            if all or c["State"] == "running":
                if not [k for k, v in wanted.items() if c["Labels"].get(k) != v]:
                    out.append(dict(c))
        return out

    def create(self, body, name=None, platform=None):
        with self.lock:
            self.n += 1
            cid = f"{self.n:064x}"
            self.store[cid] = {"Id": cid, "Names": ["/" + name], "Labels": body["Labels"],
                               "State": "created", "Body": body}
        self.log("create", name)
        return {"Id": cid}

    def _get(self, ref):
        for c in self.store.values():
            if ref in (c["Id"], c["Names"][0][1:]):
                return c
        raise errors.ContainerNotFound(ref)

    def inspect(self, ref):
        c = self._get(ref)
        state = {"Running": c["State"] == "running", "Status": c["State"], "ExitCode": 0}
        seq = self.health.get(c["Names"][0][1:])
        if seq:
            state["Health"] = {"Status": seq.pop(0) if len(seq) > 1 else seq[0]}
        return {"Id": c["Id"], "Name": c["Names"][0], "State": state}

    def start(self, ref):
        self._get(ref)["State"] = "running"
        self.log("start", self._get(ref)["Names"][0][1:])

    def stop(self, ref, timeout=None):
        self._get(ref)["State"] = "exited"
        self.log("stop", self._get(ref)["Names"][0][1:])

    def rename(self, ref, name):
        self._get(ref)["Names"] = ["/" + name]

    def remove(self, ref, force=False, volumes=False):
        c = self._get(ref)
        del self.store[c["Id"]]
        self.log("remove", c["Names"][0][1:])


class _Nets:
    def __init__(self, api):
        self.api = api

    def inspect(self, name):
        if name not in self.api.nets:
            raise errors.NotFound(name)
        return self.api.nets[name]

    def create(self, body):
        self.api.nets[body["Name"]] = body
        self.api.log("network", body["Name"])

    def connect(self, net, cid, ep):
        self.api.log("connect", net)

    def list(self, filters=None):
        return [{"Name": n, **b} for n, b in self.api.nets.items()]

    def remove(self, name):
        del self.api.nets[name]
        self.api.log("network-rm", name)


class _Vols:
    def __init__(self, api):
        self.api = api

    def inspect(self, name):
        if name not in self.api.vols:
            raise errors.NotFound(name)
        return self.api.vols[name]

    def create(self, name, driver, opts, labels):
        self.api.vols[name] = {"Name": name, "Labels": labels}

    def list(self, filters=None):
        return {"Volumes": list(self.api.vols.values())}

    def remove(self, name, force=False):
        del self.api.vols[name]
        self.api.log("volume-rm", name)


class _Images:
    def inspect(self, ref):
        return {"Id": "sha256:" + "0" * 64}


TEXT = """
services:
  web:
    image: busybox
    depends_on: [db, cache]
    networks: [front, back]
  db:
    image: busybox
    volumes: [data:/data]
    networks: [back]
  cache:
    image: busybox
    networks: [back]
networks:
  front: {}
  back: {}
volumes:
  data: {}
"""


def make(tmp_path, text=TEXT, environ=None):
    (tmp_path / "compose.yaml").write_text(text)
    project = load_project(Options(cwd=str(tmp_path), project_name="p", environ=environ or {}))
    events: list[tuple] = []
    warnings: list[str] = []
    api = FakeAPI()
    cs = ComposeService(api, project, lambda *e: events.append(e), warn=warnings.append,
                        sleep=lambda s: None)
    return cs, api, events, warnings


def test_up_creates_resources_then_containers_in_dependency_order(tmp_path):
    cs, api, events, _ = make(tmp_path)
    cs.up(UpOptions())
    names = [c for c in api.calls if c[0] in ("create", "start", "network", "connect")]
    assert names[:2] == [("network", "p_back"), ("network", "p_front")]
    assert set(api.vols) == {"p_data"}
    order = [c for c in names if c[0] in ("create", "start")]
    assert order.index(("create", "p-web-1")) > order.index(("create", "p-db-1"))
    assert order.index(("start", "p-web-1")) > max(order.index(("start", "p-db-1")),
                                                   order.index(("start", "p-cache-1")))
    assert order.index(("start", "p-db-1")) > order.index(("create", "p-web-1"))  # create all first
    assert ("connect", "p_front") in api.calls  # the second network is connected after create
    assert ("Container", "p-web-1", "Started") in events


def test_up_again_changes_nothing_and_recreates_only_changed(tmp_path):
    cs, api, events, _ = make(tmp_path)
    cs.up(UpOptions())
    ids = {c["Names"][0]: c["Id"] for c in api.store.values()}
    cs.up(UpOptions())
    assert {c["Names"][0]: c["Id"] for c in api.store.values()} == ids
    changed = TEXT.replace("volumes: [data:/data]", "volumes: [data:/data]\n    user: nobody")
    cs2, _, events2, _ = make(tmp_path, changed)
    cs2.api = api
    cs2.report = lambda *e: events2.append(e)
    cs2.up(UpOptions())
    now = {c["Names"][0]: c["Id"] for c in api.store.values()}
    assert now["/p-web-1"] == ids["/p-web-1"] and now["/p-cache-1"] == ids["/p-cache-1"]
    assert now["/p-db-1"] != ids["/p-db-1"]
    assert ("Container", "p-db-1", "Recreate") in events2
    assert not [e for e in events2 if e[2] == "Recreate" and e[1] != "p-db-1"]
    cs2.up(UpOptions(no_recreate=True, force_recreate=False))
    assert {c["Names"][0]: c["Id"] for c in api.store.values()} == now
    cs2.up(UpOptions(force_recreate=True, services=["cache"], no_deps=True))
    assert {c["Names"][0]: c["Id"] for c in api.store.values()}["/p-cache-1"] != now["/p-cache-1"]


def test_scale_up_and_down_keeps_lowest_numbers(tmp_path):
    cs, api, events, _ = make(tmp_path)
    cs.up(UpOptions(scale={"cache": 3}))
    assert sorted(c["Names"][0] for c in api.store.values() if "cache" in c["Names"][0]) == \
        ["/p-cache-1", "/p-cache-2", "/p-cache-3"]
    cs.up(UpOptions(scale={"cache": 1}))
    assert sorted(c["Names"][0] for c in api.store.values() if "cache" in c["Names"][0]) == \
        ["/p-cache-1"]
    removed = [c[1] for c in api.calls if c[0] == "remove"]
    assert removed.index("p-cache-3") < removed.index("p-cache-2")


def test_orphans_warned_or_removed(tmp_path):
    cs, api, _, warnings = make(tmp_path)
    cs.up(UpOptions())
    api.create({"Labels": {L.PROJECT: "p", L.SERVICE: "gone", L.NUMBER: "1",
                           L.ONEOFF: "False"}}, name="p-gone-1")
    cs.up(UpOptions())
    assert warnings and "Found orphan containers (p-gone-1)" in warnings[0]
    cs.up(UpOptions(remove_orphans=True))
    assert "/p-gone-1" not in [c["Names"][0] for c in api.store.values()]


def test_down_in_reverse_order_with_volumes(tmp_path):
    cs, api, events, _ = make(tmp_path)
    cs.up(UpOptions())
    api.calls.clear()
    down(cs, DownOptions(volumes=True))
    removed = [c[1] for c in api.calls if c[0] == "remove"]
    assert removed[0] == "p-web-1" and set(removed[1:]) == {"p-db-1", "p-cache-1"}
    assert api.store == {} and api.nets == {} and api.vols == {}
    assert [c[0] for c in api.calls][-3:] == ["network-rm", "network-rm", "volume-rm"]


def test_stop_in_reverse_order(tmp_path):
    cs, api, _, _ = make(tmp_path)
    cs.up(UpOptions())
    api.calls.clear()
    stop(cs, [])
    assert [c[1] for c in api.calls][0] == "p-web-1"


HEALTH = """
services:
  web:
    image: busybox
    depends_on:
      db: {condition: service_healthy}
  db:
    image: busybox
    healthcheck: {test: "true"}
"""


def test_service_healthy_waits_for_health(tmp_path):
    cs, api, events, _ = make(tmp_path, HEALTH)
    api.health["p-db-1"] = ["starting", "starting", "healthy"]
    cs.up(UpOptions())
    assert events.index(("Container", "p-db-1", "Healthy")) < \
        events.index(("Container", "p-web-1", "Started"))


def test_service_healthy_fails_on_unhealthy(tmp_path):
    cs, api, events, _ = make(tmp_path, HEALTH)
    api.health["p-db-1"] = ["unhealthy"]
    with pytest.raises(ComposeError, match="dependency failed to start: container p-db-1 is "
                                           "unhealthy"):
        cs.up(UpOptions())
    assert ("Container", "p-web-1", "Started") not in events


def test_unknown_service_refused(tmp_path):
    cs, _, _, _ = make(tmp_path)
    with pytest.raises(ComposeError, match="no such service: nope"):
        cs.up(UpOptions(services=["nope"]))


def test_recreate_inherits_anonymous_volumes():
    from hako.compose.project import inherit_anonymous_volumes

    anon, image_vol = "a" * 64, "b" * 64
    body = {"HostConfig": {"Mounts": [{"Type": "volume", "Target": "/anon"},
                                      {"Type": "volume", "Source": "p_data", "Target": "/d"}],
                           "Binds": ["/h:/bound:rw"]}}
    old = {"Mounts": [{"Type": "volume", "Name": anon, "Destination": "/anon"},
                      {"Type": "volume", "Name": "p_data", "Destination": "/d"},
                      {"Type": "volume", "Name": image_vol, "Destination": "/from-image"},
                      {"Type": "bind", "Source": "/h", "Destination": "/bound"}]}
    inherit_anonymous_volumes(body, old)
    assert body["HostConfig"]["Mounts"] == [
        {"Type": "volume", "Target": "/anon", "Source": anon},
        {"Type": "volume", "Source": "p_data", "Target": "/d"},
        {"Type": "volume", "Source": image_vol, "Target": "/from-image"}]


COMPLETED = """
services:
  web:
    image: busybox
    depends_on:
      migrate: {condition: service_completed_successfully}
  migrate:
    image: busybox
"""


@pytest.mark.parametrize("code,ok", [(0, True), (2, False)])
def test_service_completed_successfully(tmp_path, code, ok):
    cs, api, events, _ = make(tmp_path, COMPLETED)
    real_start = api.start

    def start_and_exit(ref):
        real_start(ref)
        c = api._get(ref)
        if "migrate" in c["Names"][0]:
            c["State"] = "exited"
            c["ExitCode"] = code

    api.start = start_and_exit
    real_inspect = api.inspect

    def inspect(ref):
        doc = real_inspect(ref)
        doc["State"]["ExitCode"] = api._get(ref).get("ExitCode", 0)
        return doc

    api.inspect = inspect
    if ok:
        cs.up(UpOptions())
        assert events.index(("Container", "p-migrate-1", "Exited")) < \
            events.index(("Container", "p-web-1", "Started"))
    else:
        with pytest.raises(ComposeError, match='service "migrate" didn\'t complete '
                                               "successfully: exit 2"):
            cs.up(UpOptions())
        assert ("Container", "p-web-1", "Started") not in events


def test_restart_takes_dependents_with_restart_true(tmp_path):
    from hako.compose.lifecycle import restart

    cs, api, events, _ = make(tmp_path, """
services:
  db: {image: busybox}
  web:
    image: busybox
    depends_on:
      db: {condition: service_started, restart: true}
  worker:
    image: busybox
    depends_on: [db]
""")
    api.restart = lambda ref, timeout=None: api.log("restart", api._get(ref)["Names"][0][1:])
    cs.up(UpOptions())
    restart(cs, ["db"])
    assert [c[1] for c in api.calls if c[0] == "restart"] == ["p-db-1", "p-web-1"]


def test_failed_recreation_puts_the_old_container_back(tmp_path):
    cs, api, events, _ = make(tmp_path, "services:\n  a: {image: busybox}\n")
    cs.up(UpOptions())
    [old] = api.store.values()
    real_create = api.create

    def refuse(body, name=None, platform=None):
        raise errors.InvalidArgument("HostConfig.X is not supported yet")

    api.create = refuse
    with pytest.raises(errors.InvalidArgument):
        cs.up(UpOptions(force_recreate=True))
    api.create = real_create
    [again] = api.store.values()
    assert again["Id"] == old["Id"] and again["Names"] == ["/p-a-1"]
    assert again["State"] == "running"
