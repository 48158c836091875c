"""Per-repository permissions for ``hako registry serve --acl FILE``.

The file is JSON: a list of rules, checked in order; the first rule whose ``account`` and
``name`` match decides which actions are allowed (none, if no rule matches)::

    [
      {"account": "alice", "name": "alice/*", "actions": ["*"]},
      {"account": "*", "name": "shared/*", "actions": ["pull", "push"]},
      {"account": "anonymous", "name": "public/*", "actions": ["pull"]}
    ]

- ``account``: a user name from the htpasswd file, ``*`` for any authenticated user, or
  ``anonymous`` for a caller without credentials (token mode only: basic mode has no
  anonymous callers).
- ``name``: a repository name or a shell-style pattern (``*`` matches across ``/``).
- ``actions``: any of ``pull``, ``push``, ``delete``, or ``*`` for all of them.

The same semantics as docker_auth's ACL (first match wins), so a user who may push to
``alice/*`` but nothing else gets ``DENIED`` (403) elsewhere. Layer 4. May import: errors.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass

from hako.errors import InvalidArgument

ACTIONS = frozenset({"pull", "push", "delete", "*"})
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Rule:
    account: str
    name: str
    actions: frozenset[str]

    def matches(self, user: str, name: str) -> bool:
        if self.account == "*":
            ok = bool(user)
        elif self.account == ANONYMOUS:
            ok = not user
        else:
            ok = self.account == user
        return ok and fnmatch.fnmatchcase(name, self.name)


class Acl:
    """Ordered rules; ``allowed`` answers which of the asked actions a user gets."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules

    def allowed(self, user: str, name: str, actions: tuple[str, ...] | list[str]) -> list[str]:
        for rule in self.rules:
            if rule.matches(user, name):
                if "*" in rule.actions:
                    return list(actions)
                return [a for a in actions if a in rule.actions]
        return []

    def permits(self, user: str, name: str, actions: tuple[str, ...]) -> bool:
        return set(self.allowed(user, name, actions)) >= set(actions)


def parse(text: str, origin: str = "acl") -> Acl:
    """Rules from the file's text.

    Raises:
        InvalidArgument: not JSON, not a list, or a rule with a missing/unknown key or action
        (naming the file and the rule's index).
    """
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"{origin}: not valid JSON: {exc}") from None
    if not isinstance(doc, list):
        raise InvalidArgument(f"{origin}: expected a list of rules")
    rules = []
    for i, item in enumerate(doc):
        where = f"{origin}: rule {i}"
        if not isinstance(item, dict):
            raise InvalidArgument(f"{where}: expected an object")
        unknown = set(item) - {"account", "name", "actions"}
        if unknown:
            raise InvalidArgument(f"{where}: unknown key {sorted(unknown)[0]!r}")
        account, name, actions = item.get("account"), item.get("name"), item.get("actions")
        if not isinstance(account, str) or not account:
            raise InvalidArgument(f"{where}: 'account' must be a non-empty string")
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"{where}: 'name' must be a non-empty string")
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            raise InvalidArgument(f"{where}: 'actions' must be a list of strings")
        bad = [a for a in actions if a not in ACTIONS]
        if bad:
            raise InvalidArgument(f"{where}: unknown action {bad[0]!r} (pull, push, delete or *)")
        rules.append(Rule(account, name, frozenset(actions)))
    return Acl(rules)


def load(path: str) -> Acl:
    try:
        with open(path) as f:
            return parse(f.read(), path)
    except OSError as exc:
        raise InvalidArgument(f"{path}: {exc.strerror}") from None
