"""``.dockerignore`` matching with Docker's rules."""

import pytest

from hako.opts.dockerignore import Matcher, read_patterns

IGNORE = """
# comment
*.md
!README.md
/secret
**/*.log
docs
!docs/keep.txt
a/**/z
tmp?
"""

CASES = [
    ("a.md", True), ("README.md", False), ("x/a.md", False), ("secret", True),
    ("secret/inner", True), ("a/b/c.log", True), ("c.log", True), ("docs/a", True),
    ("docs/keep.txt", False), ("src/main.c", False), ("a/z", True), ("a/b/c/z", True),
    ("tmp1", True), ("tmp12", False), ("tmp", False),
]


@pytest.mark.parametrize("path,excluded", CASES)
def test_matching(path, excluded):
    assert Matcher(read_patterns(IGNORE)).excluded(path) is excluded


def test_read_patterns_cleans():
    assert read_patterns(" /a/../b/ \n!./c\n\n#x\n") == ["b", "!c"]


def test_last_match_wins():
    m = Matcher(["!x", "x"])
    assert m.excluded("x")
    m = Matcher(["x", "!x"])
    assert not m.excluded("x")
