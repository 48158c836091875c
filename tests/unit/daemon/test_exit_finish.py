"""ExitMixin: an exit seen from the shim's pidfd alone (conmon gone without a wait answer,
a shim that never answered) is recorded and finished in one step; ``settled`` must not
return before that step has unmounted the rootfs (and, under --userns-remap, shifted the
upper dir back): a build step's commit reads it right after."""

from __future__ import annotations

import asyncio
import threading

from hako.daemon import bundle, netsetup
from hako.daemon.container_exit import ExitMixin
from hako.daemon.state import Container, Status


class _Health:
    def stop(self, c) -> None:
        pass


class _Store:
    def snapshot(self, c):
        return {}, 0

    def write(self, c, doc, seq) -> None:
        pass


class _Service(ExitMixin):
    def __init__(self) -> None:
        self._exiting, self._exit_waiters, self._shims = {}, {}, {}
        self._manual_stop, self._removing, self._dying = set(), set(), set()
        self._restarting: set[str] = set()
        self._exit_tasks, self._restarts = set(), {}
        self.health = _Health()
        self.store = _Store()

    def _emit(self, c, action, **attrs) -> None:
        pass

    async def _save(self, c) -> None:
        pass


class _Handle:
    state_dir = "/nonexistent"

    def exit_status(self):
        return {"exit_code": 3, "exited_at": "2026-12-06T00:00:00Z", "oom_killed": False}


def test_settled_waits_for_the_unmount_after_a_pidfd_only_exit(tmp_path, monkeypatch):
    unmounted = threading.Event()
    release = threading.Event()

    def slow_unmount(svc, c) -> None:
        release.wait(5)
        unmounted.set()

    monkeypatch.setattr(bundle, "unmount_rootfs", slow_unmount)
    monkeypatch.setattr(netsetup, "release", lambda svc, c: None)

    async def scenario() -> tuple[int, bool]:
        svc, handle = _Service(), _Handle()
        c = Container(id="c" * 64, name="/x", created="", image="", image_ref="", path="true",
                      args=[], config={}, host_config={}, root=str(tmp_path))
        c.state.status = Status.RUNNING
        svc._shims[c.id] = handle
        waiter = svc._exit_future(c)
        exit_task = asyncio.create_task(svc._on_shim_exit(c, handle))
        code = await waiter  # the exit is answered before the run is finished
        async def settle():
            async with svc.settled(c):
                pass

        finished = asyncio.create_task(settle())
        await asyncio.sleep(0.05)
        early = finished.done()
        release.set()
        await finished
        await exit_task
        return code, early

    code, returned_early = asyncio.run(scenario())
    assert code == 3
    assert not returned_early, "settled entered before the rootfs was unmounted"
    assert unmounted.is_set()
