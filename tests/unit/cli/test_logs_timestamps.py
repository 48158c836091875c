"""``logs --since/--until`` values → the API's ``secs.nanos`` (docker's GetTimestamp)."""

import pytest

from hako.cli.commands.logs import timestamp_arg
from hako.errors import InvalidArgument


@pytest.mark.parametrize("value,want", [
    ("2026-12-06T11:34:18.888200095Z", "1796556858.888200095"),  # every nanosecond kept
    ("2026-12-06T11:34:18Z", "1796556858.000000000"),
    ("2026-12-06T12:34:18.5+01:00", "1796556858.500000000"),
    ("1796556858", "1796556858"),
    ("1796556858.25", "1796556858.25"),
    ("10m", "99400.000000000"),
])
def test_timestamp_forms(value, want):
    assert timestamp_arg(value, now=100000) == want


def test_bad_values_name_the_flag():
    with pytest.raises(InvalidArgument, match='^invalid value for "until": failed to parse value as time '
                                              'or duration: "soon"$'):
        timestamp_arg("soon", name="until")
