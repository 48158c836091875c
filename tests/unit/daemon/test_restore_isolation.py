"""restore() after a crash: one container whose restore fails does not abort the others or
keep hakod from serving (moby logs such a container and goes on)."""

from __future__ import annotations

import asyncio
import json
import logging
import os

from hako.daemon import bundle, netsetup
from hako.daemon.config import DaemonConfig
from hako.daemon.containers import ContainerService
from hako.daemon.state import Container, State, Status
from hako.support import atomicfile


class _Images:
    sn = None  # no snapshotter: the orphan sweep has nothing to do


class _Network:
    def __init__(self) -> None:
        self.kept: dict | None = None

    def sweep(self, keep: dict) -> None:
        self.kept = keep


def _record(root: str, cid: str, status: Status) -> None:
    c = Container(id=cid, name=cid[:6], created="2026-12-07T00:00:00Z", image="sha256:" + "0" * 64,
                  image_ref="busybox", path="true", args=[], config={}, host_config={},
                  root=os.path.join(root, cid), state=State(status=status, pid=4242, shim_pid=4243))
    os.makedirs(c.root)
    atomicfile.write_json(os.path.join(c.root, "config.v2.json"), c.to_doc())


def test_a_failing_container_is_logged_and_the_others_are_restored(tmp_path, monkeypatch, caplog):
    cfg = DaemonConfig(data_root=str(tmp_path / "data"), exec_root=str(tmp_path / "exec"))
    svc = ContainerService(cfg, _Images(), network=_Network())
    bad, good, stopped = "a" * 64, "b" * 64, "c" * 64
    _record(cfg.containers_root, bad, Status.RUNNING)
    _record(cfg.containers_root, good, Status.RUNNING)
    _record(cfg.containers_root, stopped, Status.EXITED)

    def load_shim(_svc, c):
        if c.id == bad:
            raise OSError("shim record unreadable")
        return None  # the shim is gone: the container died while the daemon was away

    monkeypatch.setattr(bundle, "load_shim", load_shim)
    monkeypatch.setattr(bundle, "stop_stale_shim", lambda _svc, c: None)
    monkeypatch.setattr(bundle, "read_exit_status", lambda _svc, c: {"exit_code": 3})
    monkeypatch.setattr(bundle, "unmount_rootfs", lambda _svc, c: None)
    monkeypatch.setattr(netsetup, "release", lambda _svc, c: None)

    with caplog.at_level(logging.ERROR, logger="hako.containers"):
        asyncio.run(svc.restore())  # does not raise

    assert any("failed to restore container aaaaaaaaaaaa: shim record unreadable" in r.getMessage()
               for r in caplog.records)
    # the one after the failing container was restored: its exit recorded and saved
    g = svc.get(good)
    assert (g.state.status, g.state.exit_code) == (Status.EXITED, 3)
    with open(os.path.join(cfg.containers_root, good, "config.v2.json")) as f:
        assert json.load(f)["state"]["exit_code"] == 3
    # the failing one is left as loaded (moby): its shim may be alive, so its network stays
    b = svc.get(bad)
    assert b.state.status == Status.RUNNING and b.state.pid == 4242
    with open(os.path.join(cfg.containers_root, bad, "config.v2.json")) as f:
        assert json.load(f)["state"]["status"] == "running"
    assert svc.get(stopped).state.status == Status.EXITED
    assert set(svc.network.kept) == {bad}
