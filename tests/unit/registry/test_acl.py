"""Per-repository permission rules of `hako registry serve --acl` (pure logic)."""

from __future__ import annotations

import json

import pytest

from hako.errors import InvalidArgument
from hako.registry.server import acl

RULES = [
    {"account": "alice", "name": "alice/*", "actions": ["*"]},
    {"account": "bob", "name": "alice/*", "actions": ["pull"]},
    {"account": "*", "name": "shared/*", "actions": ["pull", "push"]},
    {"account": "anonymous", "name": "public/*", "actions": ["pull"]},
    {"account": "*", "name": "*", "actions": []},
]


@pytest.fixture
def rules():
    return acl.parse(json.dumps(RULES))


@pytest.mark.parametrize("user,name,asked,granted", [
    ("alice", "alice/app", ("pull", "push"), ["pull", "push"]),
    ("alice", "alice/deep/app", ("delete",), ["delete"]),
    ("bob", "alice/app", ("pull", "push"), ["pull"]),
    ("carol", "shared/x", ("pull", "push", "delete"), ["pull", "push"]),
    ("", "shared/x", ("pull",), []),           # "*" is any authenticated user, not anonymous
    ("", "public/x", ("pull", "push"), ["pull"]),
    ("carol", "public/x", ("pull",), []),      # "anonymous" is only the caller without credentials
    ("carol", "alice/app", ("pull",), []),     # the catch-all denies: first match wins
    ("", "other", ("pull",), []),              # no rule matches: nothing
])
def test_first_matching_rule_decides(rules, user, name, asked, granted):
    assert rules.allowed(user, name, asked) == granted
    assert rules.permits(user, name, asked) == (set(granted) == set(asked))


@pytest.mark.parametrize("doc,named", [
    ("not json", "not valid JSON"),
    ('{"account": "a"}', "expected a list"),
    ('[{"account": "a", "name": "x", "actions": ["pull"], "extra": 1}]', "rule 0: unknown key 'extra'"),
    ('[{"name": "x", "actions": ["pull"]}]', "rule 0: 'account'"),
    ('[{"account": "a", "name": "", "actions": ["pull"]}]', "rule 0: 'name'"),
    ('[{"account": "a", "name": "x", "actions": "pull"}]', "rule 0: 'actions'"),
    ('[{"account": "a", "name": "x", "actions": ["pull"]}, {"account": "a", "name": "x", '
     '"actions": ["write"]}]', "rule 1: unknown action 'write'"),
])
def test_bad_files_are_refused_naming_the_rule(doc, named):
    with pytest.raises(InvalidArgument) as exc:
        acl.parse(doc, "acl.json")
    assert str(exc.value).startswith("acl.json: ") and named in str(exc.value)
