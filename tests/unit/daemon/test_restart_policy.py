"""Restart policy decisions and back-off (hako.daemon.restart), as moby's restartmanager."""

import pytest

from hako.daemon.restart import next_delay, should_restart


@pytest.mark.parametrize("policy, code, manual, count, expected", [
    (None, 1, False, 0, False),
    ({"Name": "no"}, 1, False, 0, False),
    ({"Name": "always"}, 0, False, 5, True),
    ({"Name": "always"}, 0, True, 0, False),
    ({"Name": "unless-stopped"}, 137, False, 0, True),
    ({"Name": "unless-stopped"}, 137, True, 0, False),
    ({"Name": "on-failure"}, 0, False, 0, False),
    ({"Name": "on-failure"}, 1, False, 100, True),
    ({"Name": "on-failure", "MaximumRetryCount": 2}, 1, False, 1, True),
    ({"Name": "on-failure", "MaximumRetryCount": 2}, 1, False, 2, False),
    ({"Name": "on-failure"}, 1, True, 0, False),
])
def test_should_restart(policy, code, manual, count, expected):
    assert should_restart(policy, code, manual, count) is expected


def test_backoff_doubles_for_short_runs_and_resets_after_a_stable_one():
    assert next_delay(0, 0) == 0.1
    assert next_delay(0.1, 1) == 0.2
    assert next_delay(40, 1) == 60
    assert next_delay(60, 1) == 60
    assert next_delay(3.2, 11) == 0.1
