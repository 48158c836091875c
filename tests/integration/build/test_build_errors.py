"""Bad input gives a clear error naming the Dockerfile line and tags nothing; identical
rebuilds with --no-cache and one SOURCE_DATE_EPOCH give identical layers; the cache."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

pytestmark = pytest.mark.integration


def ctx_tar(files: dict[str, bytes | str]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            data = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1_600_000_000, 0o644
            tf.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


@pytest.fixture
def client(hakod):
    docker = pytest.importorskip("docker")
    return docker.APIClient(base_url=hakod.host, version="1.41", timeout=120)


def run_build(client, files, tag, **kw):
    return list(client.build(fileobj=ctx_tar(files), custom_context=True, tag=tag, decode=True, **kw))


def tagged(client, tag):
    return any(f"{tag}:latest" in (i.get("RepoTags") or []) for i in client.images())


def error_of(lines):
    errs = [m["error"] for m in lines if "error" in m]
    assert errs, lines
    return errs[0]


@pytest.mark.parametrize("dockerfile,files,message", [
    ("FROM busybox\nCOPY missing.txt /x\n", {}, "line 2: COPY failed: file not found in build context"),
    ("FROM busybox\nRUN true\nCOPY ../escape /x\n", {}, "line 3: COPY failed: forbidden path outside the build context: ../escape ()"),
    ("FROM busybox\nRUN echo partial > /p\nRUN exit 3\n", {}, "The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
    ("FROM busybox\nADD nope* /x/\n", {}, "line 2: ADD failed"),
])
def test_step_errors(client, dockerfile, files, message):
    tag = f"bad-{os.getpid()}"
    lines = run_build(client, {"Dockerfile": dockerfile, **files}, tag)
    assert message in error_of(lines)
    assert not tagged(client, tag)


@pytest.mark.parametrize("dockerfile,message", [
    ("FROM busybox\nFOO bar\n", "Dockerfile parse error line 2: unknown instruction: FOO"),
    ("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n",
     "Dockerfile parse error line 2: circular dependency detected on stage: a"),
    ("FROM busybox\nONBUILD ONBUILD RUN true\n", "line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
])
def test_parse_errors_are_http_errors(client, dockerfile, message):
    docker = pytest.importorskip("docker")
    tag = f"bad-parse-{os.getpid()}"
    with pytest.raises(docker.errors.APIError) as info:
        run_build(client, {"Dockerfile": dockerfile}, tag)
    assert info.value.response.status_code == 400
    assert message in str(info.value)
    assert not tagged(client, tag)


def test_run_failure_keeps_nothing_tagged_and_removes_with_forcerm(client):
    before = {c["Id"] for c in client.containers(all=True)}
    tag = f"forcerm-{os.getpid()}"
    lines = run_build(client, {"Dockerfile": "FROM busybox\nRUN exit 1\n"}, tag, forcerm=True)
    assert "returned a non-zero code: 1" in error_of(lines)
    assert {c["Id"] for c in client.containers(all=True)} == before


DETERMINISTIC = """FROM busybox
COPY data.bin /data.bin
RUN echo run-step > /r && mkdir -p /d/e && touch /d/e/f && rm /bin/yes
WORKDIR /w
ENV X=1
"""


def test_same_context_same_layers(client):
    files = {"Dockerfile": DETERMINISTIC, "data.bin": os.urandom(4096)}
    ids, layers = [], []
    try:
        for i in range(2):
            lines = run_build(client, files, f"det{i}-{os.getpid()}", nocache=True,
                              buildargs={"SOURCE_DATE_EPOCH": "1700000000"})
            image_id = [m["aux"]["ID"] for m in lines if "aux" in m][-1]
            ids.append(image_id)
            layers.append(client.inspect_image(image_id)["RootFS"]["Layers"])
        assert layers[0] == layers[1]
        assert len(layers[0]) >= 4
    finally:
        for i in range(2):
            client.remove_image(f"det{i}-{os.getpid()}", force=True)


def test_cached_rebuild_uses_cache_everywhere(client):
    files = {"Dockerfile": "FROM busybox\nCOPY a /a\nRUN cat /a > /b\nCMD [\"cat\", \"/b\"]\n", "a": "x"}
    tag = f"cache-{os.getpid()}"
    try:
        first = run_build(client, files, tag)
        second = run_build(client, files, tag)
        streams = [m.get("stream", "") for m in second]
        assert streams.count(" ---> Using cache\n") == 3
        assert not any("Running in" in s for s in streams)
        aux = lambda lines: [m["aux"]["ID"] for m in lines if "aux" in m][-1]  # noqa: E731
        assert aux(first) == aux(second)
        files["a"] = "changed"
        third = [m.get("stream", "") for m in run_build(client, files, tag)]
        assert third.count(" ---> Using cache\n") == 0
    finally:
        client.remove_image(tag, force=True)


STEP_LINES = "FROM busybox\nENV A=b\nRUN echo hi\nCOPY a /a\n"


def step_lines(lines) -> list[str]:
    return "".join(m.get("stream", "") for m in lines).splitlines()


def test_step_lines_as_docker_20_10(client):
    """Docker's probeAndCreate: a metadata step creates (never starts) a container, removed
    after the step like RUN's; COPY (performCopy) makes none."""
    import re

    before = {c["Id"] for c in client.containers(all=True)}
    tag = f"steplines-{os.getpid()}"
    try:
        text = step_lines(run_build(client, {"Dockerfile": STEP_LINES, "a": "x"}, tag, nocache=True,
                                    rm=True))
        start = text.index("Step 2/4 : ENV A=b")
        got = text[start:start + 10]
        hexid = r"[0-9a-f]{12}"
        patterns = ["Step 2/4 : ENV A=b", f" ---> Running in ({hexid})",
                    r"Removing intermediate container (\w+)", f" ---> {hexid}",
                    "Step 3/4 : RUN echo hi", f" ---> Running in ({hexid})", "hi",
                    r"Removing intermediate container (\w+)", f" ---> {hexid}",
                    "Step 4/4 : COPY a /a"]
        groups = []
        for pattern, line in zip(patterns, got):
            m = re.fullmatch(pattern, line)
            assert m, (pattern, got)
            groups += m.groups()
        assert groups[0] == groups[1] and groups[2] == groups[3] and groups[0] != groups[2]
        assert re.fullmatch(f" ---> {hexid}", text[start + 10]), text
        assert text[start + 11].startswith("Successfully built ")
        assert {c["Id"] for c in client.containers(all=True)} == before
    finally:
        client.remove_image(tag, force=True)


def test_step_containers_are_real_and_kept_without_rm(client):
    before = {c["Id"] for c in client.containers(all=True)}
    tag = f"steplines-norm-{os.getpid()}"
    try:
        text = step_lines(run_build(client, {"Dockerfile": STEP_LINES, "a": "x"}, tag, nocache=True,
                                    rm=False))
        assert not any(line.startswith("Removing intermediate") for line in text)
        printed = [line.split()[-1] for line in text if line.startswith(" ---> Running in ")]
        assert len(printed) == 2
        made = {c["Id"][:12]: c for c in client.containers(all=True) if c["Id"] not in before}
        assert sorted(made) == sorted(printed)
        env_c, run_c = (client.inspect_container(cid) for cid in printed)
        assert env_c["State"]["Status"] == "created"
        assert env_c["Config"]["Cmd"] == ["/bin/sh", "-c", "#(nop) ", "ENV A=b"]
        assert run_c["State"]["Status"] == "exited" and run_c["State"]["ExitCode"] == 0
    finally:
        for c in client.containers(all=True):
            if c["Id"] not in before:
                client.remove_container(c["Id"], force=True)
        client.remove_image(tag, force=True)
