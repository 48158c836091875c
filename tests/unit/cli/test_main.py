"""Command dispatch and THE error → exit-code mapping, against a fake Engine API."""

import io
import json

from hako.cli.main import Context, run_cli
from hako.client.api import APIClient
from hako.client.transport import FakeTransport


class Out(io.StringIO):
    def fileno(self):
        raise OSError("no fd")

    def isatty(self):
        return False


def cli(argv, handler):
    transport = FakeTransport(handler)
    ctx = Context("", {}, stdin=io.StringIO(), stdout=Out(), stderr=Out())
    ctx._api = APIClient(transport, "1.41")
    code = run_cli(argv, environ={}, ctx=ctx)
    return code, ctx.stdout.getvalue(), ctx.stderr.getvalue(), transport.calls


def not_found(kind):
    return 404, {}, {"message": f"No such {kind}: x"}


def test_rm_missing_container_prints_daemon_error_exit_1():
    code, out, err, calls = cli(["rm", "x"], lambda m, p, b: not_found("container"))
    assert code == 1 and out == ""
    assert err == "Error response from daemon: No such container: x\n"
    assert calls[0][0] == "DELETE" and calls[0][1].startswith("/v1.41/containers/x?")


def test_stop_prints_each_success_and_fails_for_the_rest():
    def handler(method, path, body):
        return (204, {}, b"") if "/ok/" in path else not_found("container")
    code, out, err, _ = cli(["stop", "-t", "1", "ok", "x"], handler)
    assert code == 1 and out == "ok\n" and "No such container: x" in err


def test_inspect_untyped_missing_object():
    code, out, err, _ = cli(["inspect", "x"], lambda m, p, b: not_found("image"))
    assert code == 1 and out == "[]\n" and err == "Error: No such object: x\n"


def test_inspect_format():
    doc = {"Id": "abc", "State": {"Status": "running"}}
    code, out, _, _ = cli(["inspect", "-f", "{{.State.Status}}", "c"],
                          lambda m, p, b: (200, {}, doc))
    assert (code, out) == (0, "running\n")


def test_inspect_template_parse_error_is_64():
    code, _, err, _ = cli(["inspect", "-f", "{{.X", "c"], lambda m, p, b: (200, {}, {}))
    assert code == 64 and err.startswith("template parsing error:")


def test_create_daemon_failure_is_1_like_docker():
    def handler(method, path, body):
        return 400, {}, {"message": "invalid reference format"}
    code, _, err, _ = cli(["create", "Bad"], handler)
    assert code == 1
    assert err == "Error response from daemon: invalid reference format\n"


def test_run_missing_image_tries_to_pull_then_reports_daemon_error():
    def handler(method, path, body):
        if path.startswith("/v1.41/containers/create"):
            return 404, {}, {"message": "No such image: nosuch:latest"}
        if path.startswith("/v1.41/images/create"):
            return 500, {}, {"message": "registry unreachable"}
        raise AssertionError(path)
    code, _, err, calls = cli(["run", "nosuch"], handler)
    assert code == 125
    assert err.startswith("Unable to find image 'nosuch:latest' locally\n"
                          "hako: Error response from daemon: registry unreachable")
    assert "fromImage=nosuch&tag=latest" in calls[1][1]


def test_run_detached_rm_sets_autoremove_and_prints_id():
    cid = "f" * 64

    def handler(method, path, body):
        if "/containers/create" in path:
            assert json.loads(body)["HostConfig"]["AutoRemove"] is True
            return 201, {}, {"Id": cid, "Warnings": []}
        return 204, {}, b""
    code, out, _, calls = cli(["run", "-d", "--rm", "busybox"], handler)
    assert (code, out) == (0, cid + "\n")
    assert calls[-1][:2] == ("POST", f"/v1.41/containers/{cid}/start")


def test_run_start_failure_exit_codes_follow_docker_heuristic():
    def make(message):
        def handler(method, path, body):
            if "/containers/create" in path:
                return 201, {}, {"Id": "c1"}
            if "/start" in path:
                return 400, {}, {"message": message}
            return 204, {}, b""
        return handler
    assert cli(["run", "-d", "b", "x"], make('exec: "x": executable file not found in $PATH'))[0] == 127
    assert cli(["run", "-d", "b", "/etc"], make("exec: /etc: permission denied"))[0] == 126
    assert cli(["run", "-d", "b"], make("something else"))[0] == 125


def test_unknown_command_and_flag():
    assert cli(["nope"], lambda *a: (200, {}, {}))[0] == 1
    code, _, err, _ = cli(["ps", "--nope"], lambda *a: (200, {}, []))
    assert code == 125 and err.startswith("unknown flag: --nope")


def test_wait_prints_exit_codes():
    code, out, _, _ = cli(["wait", "c"], lambda m, p, b: (200, {}, {"StatusCode": 3}))
    assert (code, out) == (0, "3\n")


def test_images_quiet_dedups_ids():
    imgs = [{"Id": "sha256:" + "a" * 64, "RepoTags": ["a:1", "a:2"], "Created": 0, "Size": 1}]
    code, out, _, _ = cli(["images", "-q"], lambda m, p, b: (200, {}, imgs))
    assert out == "a" * 12 + "\n"


class _Waiter:
    """A wait response whose body comes late (a busy host records the exit after the grace)."""

    def __init__(self, code):
        self.code, self.closed = code, False

    def wait_readable(self, timeout):
        return False

    def json(self):
        return {"StatusCode": self.code}

    def close(self):
        self.closed = True


def _stream_end(monkeypatch, stdin_fd):
    import contextlib
    import types

    from hako.cli.commands import run as runmod

    monkeypatch.setattr(runmod, "pump", lambda *args: None)  # the output ended at once
    monkeypatch.setattr(runmod, "RawTerminal", lambda *args: contextlib.nullcontext())
    containers = types.SimpleNamespace(inspect=lambda cid: {"State": {"Running": True}})
    ctx = types.SimpleNamespace(stdout=io.StringIO(), stderr=io.StringIO(),
                                api=types.SimpleNamespace(containers=containers))
    ctx.stdout.fileno = ctx.stderr.fileno = lambda: 1
    waiter = _Waiter(1)
    code = runmod._stream_and_wait(ctx, "c", object(), waiter, False, stdin_fd, False)
    return code, waiter


def test_run_without_stdin_waits_for_the_exit_code_however_late(monkeypatch):
    # `run --rm busybox touch /ro/x`: no stdin, so no detach keys: the stream's end is the
    # output's, and the status is the container's even when inspect still says running
    code, waiter = _stream_end(monkeypatch, None)
    assert code == 1 and not waiter.closed


def test_run_with_stdin_still_running_after_the_grace_is_a_detach(monkeypatch):
    code, waiter = _stream_end(monkeypatch, 0)
    assert code == 0 and waiter.closed
