"""``alias docker=hako``: the black-box CLI suite runs with hako as the client too.

The suite tests/cli/test_docker_*.py drives hakod through the ``docker_cli`` fixture. By
default (``make test``) every test of it runs twice: with the docker CLI, and with ``hako``
in its place. ``HAKO_ALIAS_DOCKER=subset`` runs only a representative part with hako too
(SUBSET: containers, images, volumes, tty), ``HAKO_ALIAS_DOCKER=only`` with hako alone,
``HAKO_ALIAS_DOCKER=off`` with docker alone.

The EXPECTED_FAILURES are the hako runs known to fail, each with its reason; they are
strict xfails, so a fix makes the run fail until the entry goes.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

FILES = ("test_docker_",)
SUBSET = {"test_docker_containers", "test_docker_images", "test_docker_volumes", "test_docker_tty"}
# "file::test[params without the client]" → why hako differs from docker there
EXPECTED_FAILURES: dict[str, str] = {}


def _base(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def clients_for(module: str, function: str, environ: Mapping[str, str]) -> list[str]:
    """The clients a test of ``module`` runs with."""
    base = _base(module)
    if not base.startswith(FILES):
        return ["docker"]
    mode = environ.get("HAKO_ALIAS_DOCKER", "all")
    if mode == "off":
        return ["docker"]
    if mode == "only":
        return ["hako"]
    if mode == "all" or base in SUBSET:
        return ["docker", "hako"]
    return ["docker"]


def mark_expected_failures(items) -> None:
    """Strict xfail for the hako runs listed in EXPECTED_FAILURES."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("docker_cli") != "hako":
            continue
        parts = callspec.id.split("-")
        parts.remove("hako")
        key = f"{item.path.stem}::{item.originalname}" + (f"[{'-'.join(parts)}]" if parts else "")
        reason = EXPECTED_FAILURES.get(key)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
