"""Word expansion with BuildKit's shell-lexer rules (table-driven)."""

import pytest

from hako.build.dockerfile.expand import env_map, expand_word, expand_words, set_env
from hako.errors import InvalidArgument

ENV = {"A": "x y", "E": "", "P": "/usr/bin"}

WORD_CASES = [
    ("$A", "x y"),
    ("${A}-z", "x y-z"),
    ('"$A"', "x y"),
    ("'$A'", "$A"),
    ("${E:-d}", "d"),
    ("${E-d}", ""),
    ("${N-d}", "d"),
    ("${A:+p}", "p"),
    ("${E:+p}", ""),
    ("${E+p}", "p"),
    ("${N:+p}", ""),
    ("a\\ b", "a b"),
    ("\\$A", "$A"),
    ("${N:-${P}}", "/usr/bin"),
    ("$P:/x", "/usr/bin:/x"),
    ("$", "$"),
    ("$1", "$1"),
    ('"a\\"b"', 'a"b'),
    ('"a\\b"', "a\\b"),
    ("$N", ""),
]


@pytest.mark.parametrize("word,expected", WORD_CASES)
def test_expand_word(word, expected):
    assert expand_word(word, ENV) == expected


@pytest.mark.parametrize("text,expected", [
    ("$A", ["x", "y"]),
    ('"$A" z', ["x y", "z"]),
    ("80 443/udp", ["80", "443/udp"]),
    ("${N:+x}", []),
    ("'a b' c", ["a b", "c"]),
])
def test_expand_words(text, expected):
    assert expand_words(text, ENV) == expected


def test_backtick_escape():
    assert expand_word("a`$A", ENV, escape="`") == "a$A"
    assert expand_word("C:\\dir", ENV, escape="`") == "C:\\dir"


@pytest.mark.parametrize("word", ["'open", '"open', "${A", "${}", "${E:?}", "${N?boom}"])
def test_errors(word):
    with pytest.raises(InvalidArgument):
        expand_word(word, ENV)


def test_env_helpers():
    assert env_map(["A=1", "B=x=y", "A=2"]) == {"A": "2", "B": "x=y"}
    assert set_env(["A=1", "B=2"], "A", "3") == ["A=3", "B=2"]
    assert set_env(["A=1"], "C", "") == ["A=1", "C="]
