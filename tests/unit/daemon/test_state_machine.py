"""The container state machine (``hako.daemon.state``), record write ordering, and the event
bus under publishers in other threads (issue 6)."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from hako.daemon.events import EventBus
from hako.daemon.state import (
    TRANSITIONS, Container, ContainerStore, Status, can_transition)
from hako.errors import Conflict

S = Status
EXPECTED = {
    S.CREATED: {S.RUNNING, S.EXITED, S.REMOVING, S.DEAD},
    S.RUNNING: {S.PAUSED, S.EXITED, S.RESTARTING, S.DEAD},
    S.PAUSED: {S.RUNNING, S.EXITED, S.RESTARTING, S.DEAD},
    S.RESTARTING: {S.RUNNING, S.EXITED, S.DEAD},
    S.EXITED: {S.RUNNING, S.RESTARTING, S.REMOVING, S.DEAD},
    S.REMOVING: {S.DEAD, S.EXITED, S.CREATED},
    S.DEAD: {S.REMOVING},
}


def _container(tmp_path, status: Status = S.CREATED) -> Container:
    c = Container(id="a" * 64, name="x", created="now", image="sha256:" + "b" * 64, image_ref="busybox",
                  path="sh", args=[], config={}, host_config={}, root=str(tmp_path / ("a" * 64)))
    c.state.status = status
    return c


def test_table_is_docker_lifecycle():
    assert set(TRANSITIONS) == set(Status)
    assert {k: set(v) for k, v in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize("frm", list(Status))
@pytest.mark.parametrize("to", list(Status))
def test_transition_follows_table(tmp_path, frm, to):
    c = _container(tmp_path, frm)
    if frm == to or to in EXPECTED[frm]:
        assert can_transition(frm, to)
        c.transition(to)
        assert c.state.status == to
    else:
        assert not can_transition(frm, to)
        with pytest.raises(Conflict):
            c.transition(to)
        assert c.state.status == frm


def test_no_way_back_from_removal_to_running():
    assert S.RUNNING not in TRANSITIONS[S.REMOVING]
    assert TRANSITIONS[S.DEAD] == {S.REMOVING}
    # a running container is never removed directly: it is killed and exits first
    assert S.REMOVING not in TRANSITIONS[S.RUNNING] | TRANSITIONS[S.PAUSED] | TRANSITIONS[S.RESTARTING]


def test_running_property():
    for status in Status:
        assert _container_state_running(status) == (status in (S.RUNNING, S.PAUSED, S.RESTARTING))


def _container_state_running(status: Status) -> bool:
    from hako.daemon.state import State

    return State(status=status).running


def _read(c: Container) -> dict:
    with open(os.path.join(c.root, "config.v2.json")) as f:
        return json.load(f)


def test_older_snapshot_never_overwrites_newer(tmp_path):
    store = ContainerStore(str(tmp_path))
    c = _container(tmp_path)
    os.makedirs(c.root)
    old_doc, old_seq = store.snapshot(c)
    c.transition(S.RUNNING)
    new_doc, new_seq = store.snapshot(c)
    store.write(c, new_doc, new_seq)
    store.write(c, old_doc, old_seq)  # a slower executor thread finishing last
    assert _read(c)["state"]["status"] == "running"


def test_no_write_after_delete(tmp_path):
    store = ContainerStore(str(tmp_path))
    c = _container(tmp_path)
    os.makedirs(c.root)
    doc, seq = store.snapshot(c)
    store.delete(c)
    store.write(c, doc, seq)
    assert not os.path.exists(c.root)


def test_events_published_from_threads_reach_the_loop_subscriber():
    bus = EventBus()
    n_threads, per_thread = 8, 50

    async def main() -> list[dict]:
        stream = bus.stream({}, None, None)
        await stream.__anext__()  # subscribed
        loop = asyncio.get_running_loop()

        def publish(t: int) -> None:
            for i in range(per_thread):
                bus.publish("container", "create", f"{t}-{i}", {"name": f"n{t}"})

        workers = [loop.run_in_executor(None, publish, t) for t in range(n_threads)]
        got = []
        while len(got) < n_threads * per_thread:
            got.append(json.loads(await asyncio.wait_for(stream.__anext__(), 10)))
        await asyncio.gather(*workers)
        await stream.aclose()
        return got

    got = asyncio.run(main())
    assert sorted(e["id"] for e in got) == sorted(f"{t}-{i}" for t in range(n_threads) for i in range(per_thread))
    times = [e["timeNano"] for e in bus.history()]
    assert times == sorted(times)


def test_event_history_keeps_mobys_last_256():
    bus = EventBus()
    for i in range(300):
        bus.publish("container", "start", f"c{i}", {})
    ids = [ev["Actor"]["ID"] for ev in bus.history()]
    assert len(ids) == 256 and ids[0] == "c44" and ids[-1] == "c299"
    assert bus.published == 300
