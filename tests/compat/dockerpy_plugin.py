"""pytest plugin that runs docker-py's own integration suite against a private hakod.

Loaded with ``-p dockerpy_plugin`` (``tests/compat`` on ``PYTHONPATH``) by
``scripts/dockerpy.sh`` from inside the extracted ``docker==7.0.0`` sdist. At session start
it launches a private daemon with ``tests/daemon_harness.py`` (never a shared one), imports
the busybox rootfs under every tag the suite expects locally (``alpine:3.10`` is the suite's
``TEST_IMG``; its session fixture only pulls when that image is missing, so having it
present neutralises the pull), points ``DOCKER_HOST`` at the private socket and removes the
daemon and everything it made at the end. The suite's pulls of Docker Hub images
(``hello-world``, ``alpine``, ``busybox``) go to a ``hako registry serve`` on loopback that
the daemon uses as its docker.io mirror (``--registry-mirror``), seeded with those images by
pushing the local ones (``MIRROR_SEED``); it is stopped by PID at the end. It applies the deselection list and the strict
expected-failure list of ``expectations.py``.

The suite's own package is also named ``tests``, so our modules are loaded by file path,
never as ``tests.*``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LOCAL_TAGS = ("alpine:3.10", "alpine:latest", "busybox:latest", "busybox:buildroot-2014.02")
# docker.io repository:tag on the mirror ← the local image pushed there
MIRROR_SEED = (("library/alpine:latest", "alpine:latest"), ("library/alpine:3.10", "alpine:3.10"),
               ("library/busybox:latest", "busybox:latest"),
               ("library/hello-world:latest", "busybox:latest"))

_state: dict[str, object] = {}
_counts: dict[str, dict[str, int]] = {}


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _write_rootfs(rootfs, path: str) -> None:
    """The busybox rootfs plus what the suite relies on in alpine: a ``postgres`` user (uid
    70, as alpine's /etc/passwd) and the ``/var/opt`` directory."""
    import tarfile

    passwd = rootfs.PASSWD + b"postgres:x:70:70::/var/lib/postgresql:/bin/sh\n"
    group = rootfs.GROUP + b"postgres:x:70:\n"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        rootfs.write_busybox_rootfs(tf, {"etc/passwd": passwd, "etc/group": group})
        for name in ("var/opt", "var/lib", "var/lib/postgresql"):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1700000000
            tf.addfile(info)


def _import_images(harness, rootfs, d) -> None:
    """Import the busybox rootfs once and tag it with every name in LOCAL_TAGS."""
    tar_path = os.path.join(d.root, "busybox.tar")
    _write_rootfs(rootfs, tar_path)
    with open(tar_path, "rb") as f:
        data = f.read()
    first_repo, first_tag = LOCAL_TAGS[0].split(":")
    query = {"fromSrc": "-", "repo": first_repo, "tag": first_tag, "changes": 'CMD ["/bin/sh"]'}
    status, body = d.api("POST", "/images/create", raw=data, query=query, timeout=120)
    if status != 200:
        raise RuntimeError(f"image import failed: {status} {body}")
    for ref in LOCAL_TAGS[1:]:
        repo, tag = ref.split(":")
        status, body = d.api("POST", f"/images/{LOCAL_TAGS[0]}/tag", query={"repo": repo, "tag": tag})
        if status not in (200, 201):
            raise RuntimeError(f"tag {ref} failed: {status} {body}")


def _seed_mirror(d, host: str) -> None:
    """Push the local images to the mirror under their Docker Hub names, then drop the tags."""
    for target, local in MIRROR_SEED:
        repo, tag = target.split(":")
        status, body = d.api("POST", f"/images/{local}/tag", query={"repo": f"{host}/{repo}", "tag": tag})
        if status not in (200, 201):
            raise RuntimeError(f"tag {host}/{target} failed: {status} {body}")
        status, body = d.api("POST", f"/images/{host}/{repo}/push", query={"tag": tag}, timeout=120)
        if status != 200 or b'"error"' in (body if isinstance(body, bytes) else b""):
            raise RuntimeError(f"seeding the mirror with {target} failed: {status} {body!r}")
        d.api("DELETE", f"/images/{host}/{target}")


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.geteuid() != 0:
        raise pytest.UsageError("the docker-py suite needs root: hakod runs real containers")
    harness = _load("hako_compat_daemon_harness", REPO / "tests" / "daemon_harness.py")
    harness.sweep_stale_roots()  # what killed runs left behind
    rootfs = _load("hako_compat_rootfs", REPO / "tests" / "data" / "rootfs.py")
    registries = _load("hako_compat_registry_harness", REPO / "tests" / "registry_harness.py")
    mirror = registries.HakoRegistry()
    _state["mirror"] = mirror
    mirror.start()
    d = harness.new_daemon(extra_args=("--registry-mirror", f"http://{mirror.host}"))
    _state["daemon"] = d
    d.start()
    _import_images(harness, rootfs, d)
    _seed_mirror(d, mirror.host)
    os.environ["DOCKER_HOST"] = d.host
    _state["environ"] = os.environ
    os.environ.setdefault("DOCKER_TEST_API_VERSION", "1.41")
    for var in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"):
        os.environ.pop(var, None)
    config_dir = os.path.join(d.root, "docker-config")
    os.environ["DOCKER_CONFIG"] = config_dir
    # docker-py keeps contexts next to the config file it finds, and with none found uses a
    # "contexts" directory relative to the cwd (the suite's tree), where context_api_test
    # would leave its "test" context for the next run: give it a file in the private root.
    os.makedirs(config_dir, exist_ok=True)
    Path(config_dir, "config.json").write_text("{}\n")


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """credentials/utils_test.py rebinds ``os.environ`` to a plain dict (``mock.patch.dict``
    restores the old object's contents, not the name), which drops DOCKER_HOST for every
    later test: put the real environment back."""
    saved = _state.get("environ")
    if saved is not None and os.environ is not saved:
        os.environ = saved  # noqa: B003


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    mirror = _state.pop("mirror", None)
    if mirror is not None:
        mirror.cleanup()
    d = _state.pop("daemon", None)
    if d is None:
        return
    log = os.environ.get("HAKO_COMPAT_DAEMON_LOG")
    if log:
        Path(log).write_text(Path(d.log_path).read_text(errors="replace"))
    d.cleanup()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    exp = _load("hako_compat_expectations", HERE / "expectations.py")
    keep, dropped = [], []
    for item in items:
        key = _key(item.nodeid)
        if key in exp.DESELECTED:
            dropped.append(item)
            continue
        reason = expected_failure(exp, key)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
        keep.append(item)
    for item in dropped:
        _count(item.nodeid, "deselected")
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"  # a strict xpass reports failed
        else:
            outcome = report.outcome
        _count(report.nodeid, outcome)


def pytest_terminal_summary(terminalreporter) -> None:
    """Per-file counts, in the form the README's "docker-py suite" table uses."""
    tr = terminalreporter
    tr.section("docker-py suite per file")
    cols = ("passed", "xfailed", "failed", "xpassed", "skipped", "deselected")
    tr.write_line("| file | " + " | ".join(cols) + " |")
    tr.write_line("| --- |" + " --- |" * len(cols))
    for name in sorted(_counts):
        row = _counts[name]
        tr.write_line(f"| {name} | " + " | ".join(str(row.get(c, 0)) for c in cols) + " |")


def expected_failure(exp, key: str) -> str | None:
    """The reason ``key`` is a strict expected failure, or None. The most specific entry
    wins: ``file::Class::test``, then ``file::Class``, then ``file``; a test listed in
    ``EXPECTED_PASSES`` runs unmarked even inside a file-level expected failure."""
    if key in exp.EXPECTED_PASSES:
        return None
    parts = key.split("::")
    for n in range(len(parts), 0, -1):
        reason = exp.EXPECTED_FAILURES.get("::".join(parts[:n]))
        if reason:
            return reason
    return None


def _count(nodeid: str, outcome: str) -> None:
    name = _key(nodeid).split("::")[0]
    row = _counts.setdefault(name, {})
    row[outcome] = row.get(outcome, 0) + 1


def _key(nodeid: str) -> str:
    """``tests/integration/api_image_test.py::PullImageTest::test_pull`` → ``api_image_test.py::PullImageTest::test_pull``."""
    return nodeid.split("/")[-1]
