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


def pytest_sessionstart(session):
    """Clear what runs killed before their teardown left (see sweep_stale_roots)."""
    if os.geteuid() == 0:
        from tests.daemon_harness import sweep_stale_roots

        sweep_stale_roots()


def pytest_collection_modifyitems(config, items):
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


@pytest.fixture(scope="session")
def docker_cli() -> str:
    """Path of the real docker CLI."""
    for path in ("/usr/local/bin/docker", shutil.which("docker") or ""):
        if path and os.path.exists(path):
            return path
    pytest.skip("the docker CLI is not installed (make install puts Debian's docker.io client in place)")
