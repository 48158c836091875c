"""The daemon keeps answering while long-lived requests are open."""

from __future__ import annotations

import socket

import pytest

pytestmark = pytest.mark.integration

_FOLLOWERS = 12  # more than the loop's default thread pool (cpu + 4) on any test machine


def _open_follow(sock_path: str, cid: str) -> socket.socket:
    """A ``docker logs -f`` connection whose response head has arrived (its stream blocks)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(15)
    s.connect(sock_path)
    s.sendall(f"GET /v1.41/containers/{cid}/logs?follow=1&stdout=1&stderr=1 HTTP/1.1\r\n"
              "Host: d\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, "daemon closed the logs stream"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return s


def test_followed_logs_do_not_starve_other_requests(hakod):
    status, body = hakod.api("POST", "/containers/create",
                             {"Image": "busybox", "Cmd": ["sleep", "1000"]})
    assert status == 201, body
    cid = body["Id"]
    followers: list[socket.socket] = []
    try:
        assert hakod.api("POST", f"/containers/{cid}/start")[0] == 204
        for _ in range(_FOLLOWERS):
            followers.append(_open_follow(hakod.socket, cid))
        # create runs a blocking step in the executor: it must not wait behind the streams
        status, other = hakod.api("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]},
                                  timeout=15)
        assert status == 201, other
        assert hakod.api("DELETE", f"/containers/{other['Id']}", timeout=15)[0] == 204
    finally:
        for s in followers:
            s.close()
        hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})


def test_concurrent_force_removes_of_one_container(hakod):
    """Docker answers the second ``rm -f`` 409 (removal in progress) or 404 (done), never 500."""
    from concurrent.futures import ThreadPoolExecutor

    for _ in range(3):
        status, body = hakod.api("POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "1000"]})
        assert status == 201, body
        cid = body["Id"]
        try:
            assert hakod.api("POST", f"/containers/{cid}/start")[0] == 204
            with ThreadPoolExecutor(2) as pool:
                futs = [pool.submit(hakod.api, "DELETE", f"/containers/{cid}", None, {"force": "1"})
                        for _ in range(2)]
                answers = [f.result() for f in futs]
            codes = sorted(a[0] for a in answers)
            assert codes in ([204, 404], [204, 409]), answers
            assert hakod.api("GET", f"/containers/{cid}/json")[0] == 404
        finally:
            hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})


def test_exec_records_go_with_their_container(hakod):
    status, body = hakod.api("POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "100"]})
    assert status == 201, body
    cid = body["Id"]
    try:
        assert hakod.api("POST", f"/containers/{cid}/start")[0] == 204
        status, ex = hakod.api("POST", f"/containers/{cid}/exec", {"Cmd": ["true"]})
        assert status == 201, ex
        assert hakod.api("GET", f"/exec/{ex['Id']}/json")[0] == 200
    finally:
        hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})
    # the next exec create anywhere sweeps records of removed containers
    status, body = hakod.api("POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "100"]})
    other = body["Id"]
    try:
        assert hakod.api("POST", f"/containers/{other}/start")[0] == 204
        assert hakod.api("POST", f"/containers/{other}/exec", {"Cmd": ["true"]})[0] == 201
        status, reply = hakod.api("GET", f"/exec/{ex['Id']}/json")
        assert status == 404 and "No such exec instance" in reply["message"]
    finally:
        hakod.api("DELETE", f"/containers/{other}", query={"force": "1"})
