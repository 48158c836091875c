"""Packet-filter primitives over nftables: replace or delete one whole table of our own.

Mechanism only: callers give the table's body in nft syntax; this module knows nothing of
containers. A table is replaced atomically (one ``nft -f`` transaction: create, delete,
create again), so a rebuilt rule set never leaves a window with half the rules.

Only nftables is implemented (Debian's ``iptables`` is itself the nft backend); where
``nft`` is missing ``available()`` is False and callers refuse to manage the firewall.

Layer: linux (2). May import: errors, support.
"""

from __future__ import annotations

import shutil
import subprocess

from hako.errors import Internal


def available() -> bool:
    return shutil.which("nft") is not None


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
