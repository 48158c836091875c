"""The iptables fallback (hosts without nft), forced with hakod's --firewall-backend iptables:
published ports through DNAT alone (--userland-proxy=false) on 127.0.0.1 and on the bridge's
IPv6 address, our chains named after the bridge, and nothing left after the daemon stops.
Addresses: loopback and the ULA subnet the test gives its own bridge.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import urllib.request

import pytest

from tests.daemon_harness import docker, import_busybox, out, poll

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not shutil.which("iptables-restore"), reason="iptables is not installed")]

HTTPD = "mkdir -p /www && echo via iptables > /www/index.html && httpd -f -p 80 -h /www"


def fetch(url: str) -> str:
    try:
        return urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        return ""


def chains(tool: str, table: str, prefix: str) -> str:
    rules = subprocess.run([tool, "-w", "-t", table, "-S"], capture_output=True, text=True).stdout
    return "\n".join(ln for ln in rules.splitlines() if prefix in ln)


XT_TABLES = [("ip", "nat"), ("ip", "filter"), ("ip6", "nat"), ("ip6", "filter")]


def _empty(family: str, table: str) -> bool:
    """An iptables-nft table with nothing but empty base chains."""
    text = subprocess.run(["nft", "list", "table", family, table], capture_output=True, text=True).stdout
    return all(ln.strip().startswith(("table ", "chain ", "type ", "}")) or not ln.strip()
               for ln in text.splitlines())


@pytest.fixture
def xt_tables():
    """iptables-nft makes its tables on first use: those this test made (and left empty) go."""
    def present() -> set[tuple[str, str]]:
        return {t for t in XT_TABLES
                if subprocess.run(["nft", "list", "table", *t], capture_output=True).returncode == 0}

    before = present() if shutil.which("nft") else set(XT_TABLES)
    yield
    for family, table in (present() if shutil.which("nft") else set()) - before:
        if _empty(family, table):
            subprocess.run(["nft", "delete", "table", family, table], capture_output=True)


def test_iptables_backend_dnat_and_cleanup(xt_tables, fresh_hakod, docker_cli):  # xt_tables: torn down last
    d = fresh_hakod(extra_args=("--firewall-backend", "iptables", "--userland-proxy=false", "--ipv6",
                                "--fixed-cidr-v6", "fd68:6b6f:21::/64"))
    d.start()
    import_busybox(d)
    prefix = "hako_" + d.bridge
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cid = out(docker(d, docker_cli, "run", "-d", "-p", f"{port}:80", "busybox", "sh", "-c", HTTPD,
                     check=True)).strip()
    try:
        assert poll(lambda: fetch(f"http://127.0.0.1:{port}/"), timeout=15, interval=0.1) == "via iptables\n"
        assert poll(lambda: fetch(f"http://[fd68:6b6f:21::1]:{port}/"), timeout=15, interval=0.1) == \
            "via iptables\n"
        nat = chains("iptables", "nat", prefix)
        assert f"--dport {port} -j DNAT" in nat and f"-A OUTPUT -m addrtype --dst-type LOCAL -j {prefix}-PORTS" in nat
        assert f"-A FORWARD -j {prefix}-FWD" in chains("iptables", "filter", prefix)
        assert "-j DNAT --to-destination [fd68:6b6f:21:" in chains("ip6tables", "nat", prefix)
        assert subprocess.run(["nft", "list", "table", "ip", prefix], capture_output=True).returncode != 0
    finally:
        docker(d, docker_cli, "rm", "-f", cid)
    assert f"--dport {port}" not in chains("iptables", "nat", prefix)
    d.stop()
    for tool in ("iptables", "ip6tables"):
        for table in ("nat", "filter"):
            assert chains(tool, table, prefix) == ""
