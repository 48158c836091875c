"""``GET /containers/{id}/archive`` answers hold the container's lifecycle lock while the tar
streams; a client that goes away mid-answer (``hako cp -L`` drops the first answer once it
has the link's stat, ``docker cp ctr:/f - | head`` stops reading) must release it at once.
Before, the cleanup ran in the streaming task that the disconnect cancelled: it stopped
halfway (lock held for ever: ``cp``, ``rm -f`` hung) or released the lock before the rootfs
was unmounted (the next ``cp`` found nothing); a helper killed with its output unread was
never reaped (asyncio waits for its pipes, and the unread one was paused).

Each test removes the container it made; every call after the abandoned answer carries a
deadline, so a held lock fails the test instead of hanging it.
"""

from __future__ import annotations

import io
import socket
import tarfile
import uuid

import pytest

pytestmark = pytest.mark.integration

_DEADLINE = 20.0  # seconds any call may take once the abandoned answer is gone
_BIG = 8 << 20  # far more than the daemon buffers from the helper's pipe


@pytest.fixture
def made(hakod):
    names: list[str] = []
    yield names
    for name in names:
        hakod.api("DELETE", f"/containers/{name}", query={"force": "1"})


def _container(hakod, made, script: str, keep_running: bool = False) -> str:
    name = f"abandon-{uuid.uuid4().hex[:8]}"
    cmd = script + (" && exec sleep 300" if keep_running else "")
    status, body = hakod.api("POST", "/containers/create",
                             {"Image": "busybox", "Cmd": ["sh", "-c", cmd]}, query={"name": name})
    assert status == 201, body
    made.append(name)
    status, body = hakod.api("POST", f"/containers/{name}/start")
    assert status == 204, body
    if not keep_running:
        status, body = hakod.api("POST", f"/containers/{name}/wait", timeout=60)
        assert status == 200 and body["StatusCode"] == 0, body
    return name


def _abandon(hakod, name: str, path: str, body_bytes: int) -> None:
    """GET the archive of ``path``, read the head and ``body_bytes`` of the body, hang up."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(_DEADLINE)
    s.connect(hakod.socket)
    with s:
        s.sendall(f"GET /containers/{name}/archive?path={path} HTTP/1.1\r\nHost: d\r\n\r\n"
                  .encode())
        got = b""
        while b"\r\n\r\n" not in got or len(got) - got.index(b"\r\n\r\n") - 4 < body_bytes:
            more = s.recv(65536)
            assert more, got[:200]
            got += more
        assert got.startswith(b"HTTP/1.1 200 "), got[:200]


def _file(hakod, name: str, path: str) -> bytes:
    status, body = hakod.api("GET", f"/containers/{name}/archive", query={"path": path},
                             timeout=_DEADLINE)
    assert status == 200, body
    with tarfile.open(fileobj=io.BytesIO(body)) as tf:
        return tf.extractfile(tf.next()).read()


def _put(hakod, name: str, data: bytes) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("put-after")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    status, body = hakod.api("PUT", f"/containers/{name}/archive", query={"path": "/"},
                             raw=buf.getvalue(), timeout=_DEADLINE)
    assert status == 200, body


def _released(hakod, name: str) -> None:
    """The container is free again: stat, read and write it, then remove it, in time."""
    status, _ = hakod.api("HEAD", f"/containers/{name}/archive", query={"path": "/etc/passwd"},
                          timeout=_DEADLINE)
    assert status == 200
    assert _file(hakod, name, "/etc/passwd").startswith(b"root:")
    _put(hakod, name, b"after\n")
    assert _file(hakod, name, "/put-after") == b"after\n"
    status, body = hakod.api("DELETE", f"/containers/{name}", query={"force": "1"},
                             timeout=_DEADLINE)
    assert status == 204, body


def test_get_abandoned_mid_body_releases_a_stopped_container(hakod, made):
    name = _container(hakod, made, f"head -c {_BIG} /dev/urandom > /big")
    _abandon(hakod, name, "/big", 64 << 10)
    _released(hakod, name)


def test_get_abandoned_mid_body_releases_a_running_container(hakod, made):
    name = _container(hakod, made, f"head -c {_BIG} /dev/urandom > /big", keep_running=True)
    _abandon(hakod, name, "/big", 64 << 10)
    _released(hakod, name)


def test_get_dropped_after_the_head_releases_the_container_every_time(hakod, made):
    """What ``hako cp -L`` does: the first answer is dropped once its stat header is read.
    The race (the hang-up landing during the cleanup) needs many tries to show."""
    name = _container(hakod, made, "echo data > /small")
    for _ in range(15):
        _abandon(hakod, name, "/small", 0)
        assert _file(hakod, name, "/small") == b"data\n"  # not unmounted under the next read
    _released(hakod, name)
