"""Whole Engine API bodies of example projects against reviewed golden files
(``tests/data/compose/golden/<example>.json``; the checkout's path is ``<DATA>``, the config
hash ``<hash>``: both depend on where the checkout is). ``HAKO_GOLDEN_RECORD=1`` rewrites
them (review the diff)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hako.compose import convert
from hako.compose import labels as L
from hako.compose.loader import Options, load_project

DATA = Path(__file__).resolve().parents[2] / "data" / "compose"
EXAMPLES = ("fig", "full")


def bodies(name: str) -> dict:
    p = load_project(Options(cwd=str(DATA / name), environ={}))
    out = {"containers": {}, "networks": {}, "volumes": {}}
    for sname, svc in sorted(p.services.items()):
        body = convert.container_body(p, svc, 1)
        body["Labels"][L.CONFIG_HASH] = "<hash>"
        out["containers"][convert.container_name(p, svc, 1)] = body
    for key in sorted(p.networks):
        out["networks"][key] = convert.network_body(p, key)
    for key in sorted(p.volumes):
        out["volumes"][key] = convert.volume_body(p, key)
    return json.loads(json.dumps(out).replace(str(DATA), "<DATA>"))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_bodies_match_golden(name):
    path = DATA / "golden" / f"{name}.json"
    got = bodies(name)
    if os.environ.get("HAKO_GOLDEN_RECORD") == "1":
        path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text())
