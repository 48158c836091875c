"""Chunked blob uploads with resume (registry client), against ``hako registry serve`` and
Debian's docker-registry (distribution 2.8) on loopback, through a relay that cuts the
connection once in the middle of a PATCH. The client must go on from where the registry's
upload status (``GET`` on the session, its ``Range``) says the upload ends, or start a new
session when the registry dropped the old one; the blob the registry ends up with must be
the one sent."""

from __future__ import annotations

import io
import os
import re
import socket
import threading

import pytest

from hako.oci import mediatypes as mt
from hako.oci.descriptor import Descriptor
from hako.oci.digest import Digest
from hako.registry.client import RegistryClient
from tests.registry_harness import DistributionRegistry, HakoRegistry

pytestmark = pytest.mark.integration

MiB = 1 << 20
_REQ = re.compile(rb"(POST|PATCH|PUT|GET|HEAD|DELETE) (\S+) HTTP/1\.1\r\n(.*?)\r\n\r\n", re.S)
_RESP = re.compile(rb"HTTP/1\.1 (\d{3}) [^\r\n]*\r\n(.*?)\r\n\r\n", re.S)


class CuttingRelay:
    """A TCP relay to ``target`` that closes the connection carrying the ``cut_at``-th byte
    sent by the client (once), and keeps what went through, per connection."""

    def __init__(self, target: str, cut_at: int) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.cut_at = cut_at
        self.sent = 0
        self.conns: list[tuple[bytearray, bytearray]] = []
        self.lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.host = "127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            up, down = bytearray(), bytearray()
            with self.lock:
                self.conns.append((up, down))
            threading.Thread(target=self._pump, args=(client, server, up, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, down, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, seen: bytearray, upward: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upward:
                    with self.lock:
                        before, self.sent = self.sent, self.sent + len(data)
                    if before < self.cut_at <= self.sent:
                        keep = data[:self.cut_at - before]
                        seen += keep
                        dst.sendall(keep)
                        break
                seen += data
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def exchanges(self) -> list[tuple[bytes, bytes, bytes, bytes]]:
        """(method, path, request head, response head), in order."""
        out = []
        for up, down in self.conns:
            reqs, resps = list(_REQ.finditer(bytes(up))), list(_RESP.finditer(bytes(down)))
            for i, r in enumerate(reqs):
                resp = resps[i].group(0) if i < len(resps) else b""
                out.append((r.group(1), r.group(2), r.group(3), resp))
        return out


def _header(head: bytes, name: bytes) -> bytes | None:
    m = re.search(rb"(?im)^" + name + rb":\s*([^\r\n]*)", head)
    return m.group(1).strip() if m else None


@pytest.fixture(params=["hako", "distribution"])
def registry(request):
    reg = HakoRegistry() if request.param == "hako" else DistributionRegistry()
    try:
        yield request.param, reg.start()
    finally:
        reg.cleanup()


def _fetch(host: str, repo: str, digest: Digest) -> bytes:
    import http.client

    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        conn.request("GET", f"/v2/{repo}/blobs/{digest}")
        resp = conn.getresponse()
        assert resp.status == 200, resp.status
        return resp.read()
    finally:
        conn.close()


def test_upload_is_chunked_and_resumes_from_the_registry_range(registry):
    kind, reg = registry
    blob = os.urandom(5 * MiB + 12345)
    desc = Descriptor(mt.DOCKER_LAYER_GZIP, Digest.from_bytes(blob), len(blob))
    relay = CuttingRelay(reg.host, cut_at=2 * MiB + MiB // 2)  # inside the third PATCH
    try:
        client = RegistryClient(relay.host, insecure=True, base_url=f"http://{relay.host}",
                                upload_chunk=MiB)
        done: list[int] = []
        client.upload_blob("test/chunked", desc, io.BytesIO(blob), done.append)
    finally:
        relay.close()
    assert _fetch(reg.host, "test/chunked", desc.digest) == blob
    assert done[-1] == len(blob)

    ex = relay.exchanges()
    patches = [(_header(h, b"Content-Range"), r) for m, _, h, r in ex if m == b"PATCH"]
    assert patches[0][0] == b"0-1048575" and patches[1][0] == b"1048576-2097151"
    assert patches[2][0] == b"2097152-3145727" and patches[2][1] == b""  # cut: no answer
    after_cut = ex[[i for i, e in enumerate(ex) if e[0] == b"PATCH"][2] + 1:]
    status = after_cut[0]
    assert status[0] == b"GET" and b"/blobs/uploads/" in status[1]  # asks the registry
    next_patch = next(e for e in after_cut if e[0] == b"PATCH")
    if status[3].startswith(b"HTTP/1.1 204"):
        kept = int(_header(status[3], b"Range").split(b"-")[1])
        start = int(_header(next_patch[2], b"Content-Range").split(b"-")[0])
        assert start == kept + 1  # the registry's Range, not the client's own count
        assert start >= 2 * MiB
    else:  # the registry dropped the session: a new one, from the start
        assert any(e[0] == b"POST" for e in after_cut)
        assert _header(next_patch[2], b"Content-Range").startswith(b"0-")
    if kind == "hako":  # hako's registry keeps what a cut PATCH delivered: a true resume
        assert status[3].startswith(b"HTTP/1.1 204")
        assert sum(e[0] == b"POST" for e in ex) == 1
    put = [e for e in ex if e[0] == b"PUT"]
    assert len(put) == 1 and f"digest={desc.digest}".replace(":", "%3A").encode() in put[0][1]
    assert put[0][3].startswith(b"HTTP/1.1 201")
