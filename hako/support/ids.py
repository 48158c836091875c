"""Identifiers: random 64-hex ids, short ids, unique-prefix lookup, Docker-style names."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterable

from hako.errors import AmbiguousPrefix

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def new_id() -> str:
    """Return a random 64-hex id that is not all digits (Docker avoids those)."""
    while True:
        value = os.urandom(32).hex()
        if not value[:12].isdigit():
            return value


def short_id(value: str) -> str:
    """First 12 hex characters of an id, without any ``sha256:`` prefix."""
    if value.startswith("sha256:"):
        value = value[7:]
    return value[:12]


def is_full_id(value: str) -> bool:
    return bool(_HEX64.match(value))


def match_prefix(prefix: str, ids: Iterable[str], kind: str = "container") -> str | None:
    """Return the single id starting with ``prefix``, or None.

    Raises:
        AmbiguousPrefix: more than one id matches.
    """
    if not prefix or not re.match(r"^[0-9a-f]+$", prefix):
        return None
    found = [i for i in ids if i.startswith(prefix)]
    if len(found) > 1:
        raise AmbiguousPrefix(f"multiple IDs found with provided prefix: {prefix}")
    return found[0] if found else None


_LEFT = (
    "admiring adoring affectionate agitated amazing angry awesome beautiful blissful bold "
    "boring brave busy charming clever compassionate competent condescending confident cool "
    "cranky crazy dazzling determined distracted dreamy eager ecstatic elastic elated elegant "
    "eloquent epic exciting fervent festive flamboyant focused friendly frosty funny gallant "
    "gifted goofy gracious great happy hardcore heuristic hopeful hungry infallible inspiring "
    "intelligent interesting jolly jovial keen kind laughing loving lucid magical modest musing "
    "mystifying naughty nervous nice nifty nostalgic objective optimistic peaceful pedantic "
    "pensive practical priceless quirky quizzical recursing relaxed reverent romantic sad "
    "serene sharp silly sleepy stoic strange stupefied suspicious sweet tender thirsty trusting "
    "unruffled upbeat vibrant vigilant vigorous wizardly wonderful xenodochial youthful zealous "
    "zen"
).split()
_RIGHT = (
    "albattani allen almeida antonelli archimedes ardinghelli aryabhata austin babbage banach "
    "bardeen bartik bassi beaver bell benz bhabha bhaskara black blackburn blackwell bohr booth "
    "borg bose bouman boyd brahmagupta brattain brown buck burnell cannon carson cartwright "
    "cerf chandrasekhar chaplygin chatelet chatterjee chebyshev cohen colden cori cray curie "
    "darwin davinci dewdney dhawan diffie dijkstra dirac driscoll dubinsky easley edison "
    "einstein elbakyan elgamal elion ellis engelbart euclid euler faraday feistel fermat fermi "
    "feynman franklin gagarin galileo galois ganguly gates gauss germain goldberg goldstine "
    "goldwasser golick goodall gould greider grothendieck haibt hamilton haslett hawking "
    "heisenberg hellman hermann herschel hertz heyrovsky hodgkin hofstadter hoover hopper hugle "
    "hypatia jackson jang jemison jennings jepsen johnson joliot jones kalam kapitsa kare "
    "keldysh keller kepler khayyam khorana kilby kirch knuth kowalevski lalande lamarr lamport "
    "leakey leavitt lederberg lehmann lewin lichterman liskov lovelace lumiere mahavira "
    "margulis matsumoto maxwell mayer mccarthy mcclintock mclaren mclean mcnulty meitner "
    "mendel mendeleev meninsky merkle mestorf mirzakhani montalcini moore morse moser murdock "
    "napier nash neumann newton nightingale nobel noether northcutt noyce panini pare pascal "
    "pasteur payne perlman pike poincare poitras proskuriakova ptolemy raman ramanujan rhodes "
    "ride ritchie robinson roentgen rosalind rubin saha sammet sanderson satoshi shamir shannon "
    "shaw shirley shockley shtern sinoussi snyder solomon spence stonebraker sutherland "
    "swanson swartz swirles taussig tesla tharp thompson torvalds tu turing varahamihira "
    "vaughan villani visvesvaraya volhard wescoff wilbur wiles williams williamson wilson wing "
    "wozniak wright wu yalow yonath zhukovsky"
).split()


def random_name(taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A Docker-style ``adjective_surname`` name not in ``taken``."""
    rng = random.SystemRandom()
    for attempt in range(100):
        name = f"{rng.choice(_LEFT)}_{rng.choice(_RIGHT)}"
        if attempt > 10:
            name += str(rng.randint(0, 9))
        if name not in taken:
            return name
    return "hako_" + new_id()[:12]
