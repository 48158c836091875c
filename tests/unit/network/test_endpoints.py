"""Per-endpoint settings (hako/network/endpoints.py) and link specs, as moby checks them."""

from __future__ import annotations

import pytest

from hako.errors import InvalidArgument
from hako.network import endpoints, links


def test_settings_keeps_what_was_given_and_nothing_else():
    got = endpoints.settings({"IPAMConfig": {"IPv4Address": "10.1.0.9", "IPv6Address": "",
                                             "LinkLocalIPs": ["169.254.8.8"]},
                              "Links": ["up:bar"], "Aliases": ["a"], "DriverOpts": {"k": "v"},
                              "MacAddress": "02:42:ac:11:00:02", "IPAddress": "ignored"}, True)
    assert got == {"IPAMConfig": {"IPv4Address": "10.1.0.9", "LinkLocalIPs": ["169.254.8.8"]},
                   "Links": ["up:bar"], "Aliases": ["a"], "DriverOpts": {"k": "v"},
                   "MacAddress": "02:42:ac:11:00:02"}
    assert endpoints.settings(None, True) == {"IPAMConfig": None, "Links": None, "Aliases": None,
                                              "DriverOpts": None, "MacAddress": ""}


@pytest.mark.parametrize("config,user_defined,message", [
    ({"IPAMConfig": {"IPv4Address": "10.1.0.9"}}, False,
     "user specified IP address is supported on user defined networks only"),
    ({"Aliases": ["a"]}, False, "network-scoped alias is supported only for containers in user defined networks"),
    ({"Links": ["a:b"]}, False, "links are only supported for user-defined networks"),
    ({"IPAMConfig": {"IPv4Address": "fd00::1"}}, True, "invalid IPv4 address: fd00::1"),
    ({"IPAMConfig": {"IPv6Address": "10.0.0.1"}}, True, "invalid IPv6 address: 10.0.0.1"),
    ({"IPAMConfig": {"IPv4Address": "0.0.0.0"}}, True, "invalid IPv4 address: 0.0.0.0"),
    ({"IPAMConfig": {"LinkLocalIPs": ["nope"]}}, True, "invalid link-local IP address: nope"),
    ({"MacAddress": "02:42:ac:11:00"}, True, "02:42:ac:11:00 is not a valid mac address"),
    ({"Links": ["a:b:c"]}, True, "bad format for links: a:b:c"),
    ({"Links": [""]}, True, "empty string specified for links"),
])
def test_settings_refusals(config, user_defined, message):
    with pytest.raises(InvalidArgument) as exc:
        endpoints.settings(config, user_defined)
    assert str(exc.value) == message


def test_link_target_is_the_alias_first_match_lowercase():
    assert endpoints.link_target(["Upstream:Bar", "other"], "bar") == "upstream"
    assert endpoints.link_target(["other"], "other") == "other"
    assert endpoints.link_target(["/up:/web/al"], "al") == "up"
    assert endpoints.link_target(None, "bar") == ""


def test_link_parse_keeps_moby_forms():
    assert links.parse("redis") == ("redis", "redis")
    assert links.parse("redis:db") == ("redis", "db")
    assert links.parse("/redis:/web/db") == ("redis", "db")
