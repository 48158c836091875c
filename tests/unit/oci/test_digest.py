import hashlib

import pytest

from hako.errors import InvalidArgument
from hako.oci.digest import Digest, Digester, Verifier, is_digest

HEX = hashlib.sha256(b"hello").hexdigest()


def test_parse_and_str_round_trip():
    d = Digest.parse(f"sha256:{HEX}")
    assert str(d) == f"sha256:{HEX}" and d.short == HEX[:12]


@pytest.mark.parametrize("text", ["", "sha256", "sha256:", "sha256:abc", f"md5:{HEX}",
                                  f"sha256:{HEX.upper()}", f"sha256:{HEX}0"])
def test_invalid(text):
    with pytest.raises(InvalidArgument):
        Digest.parse(text)
    assert not is_digest(text)


def test_streaming_hasher_and_verifier():
    h = Digester()
    h.update(b"hel")
    h.update(b"lo")
    assert h.digest() == Digest.from_bytes(b"hello") and h.size == 5
    v = Verifier(Digest.from_bytes(b"hello"), 5)
    v.update(b"hello")
    v.check()
    bad = Verifier(Digest.from_bytes(b"hello"), 5)
    bad.update(b"hellO")
    with pytest.raises(InvalidArgument):
        bad.check()
