"""Capability tables and Docker's add/drop rules (pure logic)."""

from __future__ import annotations

import pytest

from hako.errors import InvalidArgument
from hako.runtime import capabilities as caps

D = list(caps.DEFAULT_CAPABILITIES)


def test_table_has_41_caps_numbered_densely():
    assert len(caps.CAPABILITIES) == 41
    assert sorted(caps.CAPABILITIES.values()) == list(range(41))
    assert caps.CAPABILITIES["CAP_CHECKPOINT_RESTORE"] == 40


def test_all_capabilities_limited_by_kernel():
    assert caps.all_capabilities(37)[-1] == "CAP_AUDIT_READ"
    assert len(caps.all_capabilities(40)) == 41


@pytest.mark.parametrize("name", ["net_admin", "CAP_NET_ADMIN", "Net_Admin", " cap_net_admin"])
def test_normalize(name):
    assert caps.normalize_cap(name) == "CAP_NET_ADMIN"


def test_unknown_capability_uses_docker_text():
    with pytest.raises(InvalidArgument, match=r'^unknown capability: "CAP_FOO"$'):
        caps.resolve_caps(D, ["foo"], [], False)


@pytest.mark.parametrize("add,drop,privileged,expected", [
    ([], [], False, D),
    ([], [], True, caps.all_capabilities(40)),
    (["NET_ADMIN"], ["chown", "CAP_KILL"],
     False, [c for c in D if c not in ("CAP_CHOWN", "CAP_KILL")] + ["CAP_NET_ADMIN"]),
    (["ALL"], ["SYS_ADMIN"], False, [c for c in caps.all_capabilities(40) if c != "CAP_SYS_ADMIN"]),
    (["chown", "kill"], ["all"], False, ["CAP_CHOWN", "CAP_KILL"]),
    (["CHOWN"], [], False, D),  # already present: no duplicate
])
def test_resolve_caps(add, drop, privileged, expected):
    assert caps.resolve_caps(D, add, drop, privileged, last=40) == expected


def test_masks_round_trip_and_skip_unknown_to_kernel():
    mask = caps.caps_to_mask(["CAP_CHOWN", "CAP_KILL", "CAP_BPF"], last=38)
    assert mask == (1 << 0) | (1 << 5)
    assert caps.mask_to_caps(mask) == ["CAP_CHOWN", "CAP_KILL"]
