"""The one URL fetcher: http and https only, also across redirects, with a timeout.

Remote build contexts, ``ADD`` of a URL and ``docker import URL`` all download through
:func:`download`; nothing else in the engine opens a URL a user gave. ``file://``, ``ftp://``
and every other scheme are refused before anything is fetched, and a redirect to one of them
is refused too (urllib would otherwise follow a redirect to ``file://``).

Layer 1. May import: errors.
"""

from __future__ import annotations

import shutil
from typing import Any, BinaryIO

from hako.errors import InvalidArgument

SCHEMES = ("http://", "https://")


def check_scheme(url: str, what: str = "URL") -> None:
    """Raises InvalidArgument naming the scheme unless ``url`` is http(s)."""
    if not url.lower().startswith(SCHEMES):
        scheme = url.split(":", 1)[0] if "://" in url else url
        raise InvalidArgument(f"{what} {url!r}: scheme {scheme!r} is not supported "
                              "(only http and https)")


def download(url: str, out: BinaryIO, timeout: float = 60, what: str = "URL") -> Any:
    """Copy the body of ``url`` into ``out``.

    Returns:
        The response headers (an ``email.message.Message``).
    Raises:
        InvalidArgument: a scheme (or a redirect to one) other than http(s).
        OSError: the transfer failed (callers word it as Docker does).
    """
    check_scheme(url, what)
    with _opener(what).open(url, timeout=timeout) as resp:  # noqa: S310 - http(s) only
        shutil.copyfileobj(resp, out, 1 << 20)
        return resp.headers


def content_type(url: str, timeout: float = 30, what: str = "URL") -> str:
    """The media type a GET of ``url`` answers with (the body is not read).

    Raises:
        InvalidArgument: as :func:`download`. OSError: the request failed.
    """
    check_scheme(url, what)
    with _opener(what).open(url, timeout=timeout) as resp:  # noqa: S310 - http(s) only
        return resp.headers.get_content_type()


def _opener(what: str) -> Any:
    import urllib.request

    class _Redirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
            check_scheme(newurl, f"{what} redirected to")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(),
                    urllib.request.HTTPSHandler(), urllib.request.HTTPDefaultErrorHandler(),
                    urllib.request.HTTPErrorProcessor(), _Redirect()):
        opener.add_handler(handler)
    return opener
