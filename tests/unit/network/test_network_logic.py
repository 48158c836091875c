"""Pure networking logic: hosts and resolv.conf as Docker writes them, IPAM, the rule text."""

from __future__ import annotations

import threading

import pytest

from hako.errors import Conflict, Unavailable
from hako.network import hosts, rules
from hako.network.config import parse_address_pool
from hako.network.ipam import Ipam
from hako.network.service import mac_for


def test_hosts_file_own_record_last_with_extra_hosts_first():
    text = hosts.hosts_file("web", "", "172.17.0.2", [("db", "10.0.0.9")])
    assert text.startswith("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    assert text.endswith("10.0.0.9\tdb\n172.17.0.2\tweb\n")


def test_hosts_file_fqdn_and_no_address():
    assert hosts.hosts_file("web", "example.com", "10.1.0.2", []).endswith(
        "10.1.0.2\tweb.example.com web\n")
    assert hosts.hosts_file("web", "", "", []) == hosts.DEFAULT_HOSTS


@pytest.mark.parametrize("host,expected", [
    ("nameserver 10.0.0.53\nsearch corp\n", "nameserver 10.0.0.53\nsearch corp\n"),
    ("nameserver 127.0.0.53\nnameserver 10.0.0.53\n", "nameserver 10.0.0.53\n"),
    ("nameserver ::1\nnameserver fd00::53\nnameserver 10.0.0.53\n", "nameserver 10.0.0.53\n"),
    # only loopback resolvers: moby's fallback, appended without a final newline
    ("nameserver 127.0.0.53\noptions edns0\n", "options edns0\n\nnameserver 8.8.8.8\nnameserver 8.8.4.4"),
])
def test_resolv_conf_from_host(host, expected):
    assert hosts.resolv_conf(host) == expected


def test_resolv_conf_with_options_replaces_only_what_is_given():
    host = "search corp\nnameserver 10.0.0.53\noptions ndots:1\n"
    assert hosts.resolv_conf(host, dns=["192.0.2.1"]) == (
        "search corp\nnameserver 192.0.2.1\noptions ndots:1\n")
    assert hosts.resolv_conf(host, search=["a.example", "b.example"], options=["ndots:3"]) == (
        "search a.example b.example\nnameserver 10.0.0.53\noptions ndots:3\n")
    assert hosts.resolv_conf("nameserver 127.0.0.1\n", search=["x"]) == (
        "search x\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n")


def test_ipam_first_free_skips_gateway_and_reuses_released(tmp_path):
    ipam = Ipam(str(tmp_path))
    ipam.set_pool("p", "10.9.0.0/29", "10.9.0.1")
    got = [ipam.allocate("p", f"c{i}") for i in range(5)]
    assert got == ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
    with pytest.raises(Unavailable):
        ipam.allocate("p", "c6")
    ipam.release("p", "10.9.0.4")
    assert ipam.allocate("p", "c7") == "10.9.0.4"
    with pytest.raises(Conflict):
        ipam.allocate("p", "c8", requested="10.9.0.2")
    assert sorted(ipam.release_unless({"c0", "c1"})) == ["10.9.0.4", "10.9.0.5", "10.9.0.6"]
    assert sorted(ipam.allocated("p")) == ["10.9.0.2", "10.9.0.3"]
    # a new instance (a daemon restart) keeps the pool; its allocations are what the running
    # containers' records claim (reconcile), never what the file last held
    again = Ipam(str(tmp_path))
    assert again.allocated("p") == {}
    again.reconcile([("p", "10.9.0.3", "c1")])
    assert again.allocated("p") == {"10.9.0.3": "c1"}
    assert again.allocate("p", "c9") == "10.9.0.2"


def test_ipam_concurrent_allocations_never_collide(tmp_path):
    ipam = Ipam(str(tmp_path))
    ipam.set_pool("p", "10.9.0.0/24", "10.9.0.1")
    got: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        addr = ipam.allocate("p", f"c{i}")
        with lock:
            got.append(addr)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 50


def test_ipam_fixed_cidr_range(tmp_path):
    ipam = Ipam(str(tmp_path))
    ipam.set_pool("p", "10.9.0.0/24", "10.9.0.1", "10.9.0.128/25")
    assert ipam.allocate("p", "c") == "10.9.0.129"


def test_mac_from_address_as_docker():
    assert mac_for("172.17.0.2") == "02:42:ac:11:00:02"


def test_address_pool_flag():
    assert parse_address_pool("base=10.10.0.0/16,size=24") == ("10.10.0.0/16", 24)
    with pytest.raises(ValueError):
        parse_address_pool("base=10.10.0.0/16")


def test_rules_text_names_our_bridge_only():
    text = rules.build("hako0", "10.1.0.0/24", icc=False)
    assert "ip saddr 10.1.0.0/24 oifname != \"hako0\" masquerade" in text
    assert "iifname \"hako0\" oifname \"hako0\" drop" in text
    assert rules.table_name("br-x.1") == "hako_br_x_1"


def test_link_env_as_moby():
    from hako.network.links import Link, env

    link = Link("/web/db", "172.17.0.5", ((6379, "tcp"),), ("PATH=/bin", "REDIS_VERSION=7", "HOME=/"))
    assert env(link) == [
        "DB_PORT=tcp://172.17.0.5:6379",
        "DB_PORT_6379_TCP=tcp://172.17.0.5:6379", "DB_PORT_6379_TCP_ADDR=172.17.0.5",
        "DB_PORT_6379_TCP_PORT=6379", "DB_PORT_6379_TCP_PROTO=tcp",
        "DB_NAME=/web/db", "DB_ENV_REDIS_VERSION=7"]


def test_link_env_ranges_and_alias_with_dash():
    from hako.network.links import Link, env

    link = Link("/app/my-db", "10.0.0.2", ((8002, "tcp"), (8000, "tcp"), (8001, "tcp"), (53, "udp")), ())
    got = env(link)
    assert got[0] == "MY_DB_PORT=udp://10.0.0.2:53"
    assert "MY_DB_PORT_8000_TCP_START=tcp://10.0.0.2:8000" in got
    assert "MY_DB_PORT_8000_TCP_END=tcp://10.0.0.2:8002" in got
    assert "MY_DB_PORT_8000_TCP_PORT_END=8002" in got
    assert "MY_DB_PORT_8001_TCP_ADDR=10.0.0.2" in got and got[-1] == "MY_DB_NAME=/app/my-db"


def test_link_parse_and_hosts_names():
    from hako.network.links import hosts_names, parse

    assert parse("redis:db") == ("redis", "db")
    assert parse("/redis") == ("redis", "redis")
    assert hosts_names("db", "abc123", "redis") == "db abc123 redis"
    assert hosts_names("redis", "abc123", "redis") == "redis abc123"


def test_endpoint_link_aliases_as_compose_sends_them():
    from hako.errors import InvalidArgument
    from hako.network.links import endpoint_aliases

    got = endpoint_aliases(["proj_db_1:Database", "proj_db_1:db_1", "other"])
    assert got == {"database": "proj_db_1", "db_1": "proj_db_1", "other": "other"}
    assert endpoint_aliases(None) == {}
    with pytest.raises(InvalidArgument):
        endpoint_aliases([":x"])


def test_ipam_reconcile_makes_allocations_exactly_the_claims(tmp_path):
    ipam = Ipam(str(tmp_path))
    ipam.set_pool("p", "10.9.0.0/24", "10.9.0.1")
    for i in range(3):
        ipam.allocate("p", f"c{i}")
    # a daemon restart: only c1 runs, and c9's address was lost with an unsynced write
    Ipam(str(tmp_path)).reconcile([("p", "10.9.0.3", "c1"), ("p", "10.9.0.7", "c9"), ("gone", "1.2.3.4", "x")])
    assert Ipam(str(tmp_path)).allocated("p") == {"10.9.0.3": "c1", "10.9.0.7": "c9"}
