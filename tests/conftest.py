"""Shared fixtures: a private hakod per test session (and fresh ones on request)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.daemon_harness import Hakod, import_busybox, new_daemon  # noqa: E402
from tests.tty_harness import term  # noqa: E402,F401 - a fixture for every test


def pytest_configure(config):
    """The CLIs the tests start never inherit a terminal size: an xdist worker runs with
    COLUMNS=80 (docker-compose would wrap its tables at that width), a terminal may export
    its own."""
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)


def pytest_sessionstart(session):
    """Clear what runs killed before their teardown left (see sweep_stale_roots); under
    pytest-xdist the controller does it once, before any worker makes a daemon."""
    if os.geteuid() == 0 and not hasattr(session.config, "workerinput"):
        from tests.daemon_harness import sweep_stale_roots

        sweep_stale_roots()


_DAEMON_FIXTURES = frozenset({"hakod", "fresh_hakod"})


def _runs_hakod(item) -> bool:
    """Whether a test runs a hakod of the harness: it uses a daemon fixture, or its module
    makes daemons itself (it imported ``new_daemon``, ``Hakod`` or ``RootlessHakod``)."""
    if _DAEMON_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    module = getattr(item, "module", None)
    return module is not None and any(getattr(module, n, None) is not None
                                      for n in ("new_daemon", "Hakod", "RootlessHakod"))


@pytest.hookimpl(tryfirst=True)  # before -m selects by the marks set here
def pytest_collection_modifyitems(config, items):
    from tests.cli import alias

    alias.mark_expected_failures(items)
    for item in items:
        if _runs_hakod(item):  # what depends on the shim: make test-conmon selects -m shim
            item.add_marker(pytest.mark.shim)
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="needs root: containers use namespaces, mounts and cgroups")
        for item in items:
            if "integration" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def hakod() -> Hakod:
    """One daemon for the session, with busybox:latest imported."""
    d = new_daemon()
    try:
        d.start()
        import_busybox(d)
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def fresh_hakod():
    """A daemon of the test's own (for restart and crash tests); the test calls start()."""
    made: list[Hakod] = []

    def factory(runtime: str = "hako", extra_args: tuple[str, ...] = ()) -> Hakod:
        d = new_daemon(runtime, extra_args)
        made.append(d)
        return d

    yield factory
    for d in made:
        d.cleanup()


def _real_docker() -> str:
    for path in ("/usr/local/bin/docker", shutil.which("docker") or ""):
        if path and os.path.exists(path):
            return path
    pytest.skip("the docker CLI is not installed (make install puts Debian's docker.io client in place)")


def _hako_cli() -> str:
    path = os.path.join(os.path.dirname(sys.executable), "hako")
    if not os.path.exists(path):
        pytest.skip("the hako console script is not installed in this environment")
    return path


@pytest.fixture(scope="session")
def docker_cli(request) -> str:
    """Path of the client the black-box CLI suite drives: the real docker CLI, or ``hako``
    (``alias docker=hako``) for the tests tests/cli/alias.py selects."""
    return _hako_cli() if getattr(request, "param", "docker") == "hako" else _real_docker()


def pytest_generate_tests(metafunc):
    """The black-box suite (tests/cli/test_docker_*.py) also runs with hako as the client."""
    if "docker_cli" not in metafunc.fixturenames:
        return
    from tests.cli import alias

    clients = alias.clients_for(metafunc.module.__name__, metafunc.function.__name__, os.environ)
    if clients != ["docker"]:
        metafunc.parametrize("docker_cli", clients, indirect=True, scope="session")


@pytest.fixture(scope="module")
def hako_registry():
    """A ``hako registry serve`` on loopback (no auth) shared by a test module."""
    from tests.registry_harness import HakoRegistry

    reg = HakoRegistry()
    try:
        yield reg.start()
    finally:
        reg.cleanup()
