"""Packet-filter primitives: one whole nftables table of our own, or (where ``nft`` is
missing) chains of our own in the iptables tables. Mechanism only: callers give the rules;
this module knows nothing of containers.

nftables: a table is replaced atomically (one ``nft -f`` transaction: create, delete,
create again), so a rebuilt rule set never leaves a window with half the rules.

iptables (``xt_*``): our chains are filled by one ``iptables-restore --noflush`` per family
(each declared chain is flushed and refilled atomically per table), then a jump to each
from its built-in chain is ensured at the top of that chain; removal deletes the jumps, then
flushes and deletes the chains. Docker uses the same shape (its DOCKER chains).

Layer: linux (2). May import: errors, support.
"""

from __future__ import annotations

import shutil
import subprocess

from hako.errors import Internal


def available() -> bool:
    return shutil.which("nft") is not None


def backend(preference: str = "auto") -> str:
    """``nft``, ``iptables`` or "" (neither tool): ``auto`` prefers nft."""
    if preference in ("auto", "nft") and available():
        return "nft"
    if preference in ("auto", "iptables") and shutil.which("iptables-restore"):
        return "iptables"
    return ""


def _nft(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nft", "-f", "-"], input=script.encode(), capture_output=True)


def replace_table(family: str, name: str, body: str | None) -> None:
    """Install ``table <family> <name> { <body> }`` in place of any previous one (``body``
    None: only remove any previous one).

    Raises:
        Internal: nft refused the rules (its message included).
    """
    replace_tables([(family, name, body)])


def replace_tables(tables: list[tuple[str, str, str | None]]) -> None:
    """``replace_table`` for several tables in one transaction (one ``nft`` run).

    Raises:
        Internal: nft refused the rules (its message included); nothing changed then.
    """
    script = ""
    for family, name, body in tables:
        script += f"table {family} {name} {{}}\ndelete table {family} {name}\n"
        if body is not None:
            script += f"table {family} {name} {{\n{body}\n}}\n"
    res = _nft(script)
    if res.returncode != 0:
        names = ", ".join(f"{f} {n}" for f, n, _ in tables)
        raise Internal(f"nftables refused the rules of table {names}: "
                       f"{res.stderr.decode(errors='replace').strip()}")


def delete_table(family: str, name: str) -> bool:
    """Delete the table; False when it did not exist."""
    if not table_exists(family, name):
        return False
    _nft(f"delete table {family} {name}\n")
    return True


def table_exists(family: str, name: str) -> bool:
    res = subprocess.run(["nft", "list", "table", family, name], capture_output=True)
    return res.returncode == 0


def list_table(family: str, name: str) -> str:
    res = subprocess.run(["nft", "list", "table", family, name], capture_output=True)
    return res.stdout.decode(errors="replace") if res.returncode == 0 else ""


# -- iptables -------------------------------------------------------------------------------
# chains: {table: {chain: [rule args, e.g. "-s 10.0.0.0/24 ! -o br0 -j MASQUERADE"]}}
# jumps: [(table, built-in chain, rule args that jump to one of our chains)]
Chains = dict[str, dict[str, list[str]]]
Jumps = list[tuple[str, str, str]]


def _tool(family: int, suffix: str = "") -> str:
    return ("iptables" if family == 4 else "ip6tables") + suffix


def xt_replace(family: int, chains: Chains, jumps: Jumps) -> None:
    """Fill our chains (made when missing) and ensure the jumps to them.

    Raises:
        Internal: iptables-restore or iptables refused (its message included).
    """
    script = ""
    for table, by_chain in chains.items():
        script += f"*{table}\n" + "".join(f":{chain} - [0:0]\n" for chain in by_chain)
        script += "".join(f"-A {chain} {rule}\n" for chain, rules in by_chain.items() for rule in rules)
        script += "COMMIT\n"
    res = subprocess.run([_tool(family, "-restore"), "--noflush", "-w"], input=script.encode(),
                         capture_output=True)
    if res.returncode != 0:
        raise Internal(f"{_tool(family, '-restore')} refused our chains: "
                       f"{res.stderr.decode(errors='replace').strip()}")
    for table, chain, rule in jumps:
        if _xt(family, table, "-C", chain, rule).returncode != 0:
            res = _xt(family, table, "-I", chain, rule, "1")
            if res.returncode != 0:
                raise Internal(f"{_tool(family)} refused a jump from {chain}: "
                               f"{res.stderr.decode(errors='replace').strip()}")


def xt_remove(family: int, chains: dict[str, list[str]], jumps: Jumps) -> None:
    """Delete the jumps (every copy) and our chains; what is already gone is skipped."""
    for table, chain, rule in jumps:
        while _xt(family, table, "-D", chain, rule).returncode == 0:
            pass
    for table, names in chains.items():
        for chain in names:
            _xt(family, table, "-F", chain)
            _xt(family, table, "-X", chain)


def _xt(family: int, table: str, op: str, chain: str, rule: str = "", *extra: str) -> subprocess.CompletedProcess:
    args = [_tool(family), "-w", "-t", table, op, chain, *extra, *rule.split()]
    return subprocess.run(args, capture_output=True)
