import gzip
import io
import os

from hako.support import pgzip


def test_roundtrip_and_deterministic():
    data = os.urandom(3_000_000) + b"abc" * 700_000
    one = b"".join(pgzip.compress(io.BytesIO(data), 1, threads=1))
    four = b"".join(pgzip.compress(io.BytesIO(data), 1, threads=4))
    assert one == four
    assert gzip.decompress(one) == data


def test_empty_input():
    assert gzip.decompress(b"".join(pgzip.compress(io.BytesIO(b"")))) == b""
