"""The one URL fetcher refuses every scheme but http(s) before opening anything."""

import io

import pytest

from hako.errors import InvalidArgument
from hako.support import fetch


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x.tar",
                                 "gopher://127.0.0.1/", "/etc/passwd", "FILE:///etc/shadow"])
def test_other_schemes_are_refused_before_fetching(url):
    out = io.BytesIO()
    with pytest.raises(InvalidArgument, match="only http and https"):
        fetch.download(url, out)
    assert out.getvalue() == b""


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "HTTPS://127.0.0.1/x"])
def test_http_schemes_pass_the_check(url):
    fetch.check_scheme(url)

