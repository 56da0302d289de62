"""A tar named by an http(s) URL, read as a stream (`tuidock import URL`).

As `docker import URL`: the body is downloaded, never held whole in memory
(the importer reads it chunk by chunk into its spool file), and whatever goes
wrong (no connection, an error status, a broken transfer) is one line naming
the URL and the reason, never the HTTP library's own text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO
from urllib.parse import urlsplit

from tuidock.errors import TuidockError

CONNECT_TIMEOUT = 30.0
READ_TIMEOUT = 120.0


def is_url(text: str) -> bool:
    """What Docker's urlutil.IsURL calls a URL: http:// or https://."""
    return re.match(r"https?://", text, re.I) is not None


def _reason(exc: BaseException) -> str:
    """The OS's word for a failure buried in a requests/urllib3 exception chain."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.strerror:
            return e.strerror[0].lower() + e.strerror[1:]
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None)]
        todo += [a for a in e.args if isinstance(a, BaseException)]
    name = type(exc).__name__
    if "Timeout" in name:
        return "timed out"
    if "SSL" in name:
        return "TLS error (certificate not trusted?)"
    return "connection failed"


class _Body:
    """The response body as a binary file; a failed read is a TuidockError."""

    def __init__(self, resp, url: str) -> None:
        self.resp = resp
        self.url = url

    def read(self, n: int = -1) -> bytes:
        try:
            return self.resp.raw.read(None if n < 0 else n)
        except Exception as exc:  # urllib3 raises its own types mid-body
            raise TuidockError(f"cannot download {self.url}: {_reason(exc)}") from None


@contextmanager
def open_url(url: str) -> Iterator[IO[bytes]]:
    """The body of a GET of `url`, as served (a compressed tar stays compressed)."""
    import requests

    from tuidock.runtime.image.registry.config import is_loopback

    session = requests.Session()
    session.trust_env = False
    if not is_loopback(urlsplit(url).netloc):
        session.proxies = requests.utils.get_environ_proxies(url)
    try:
        resp = session.get(url, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
    except requests.exceptions.InvalidURL:
        raise TuidockError(f"invalid URL: {url}") from None
    except requests.exceptions.RequestException as exc:
        raise TuidockError(f"cannot download {url}: {_reason(exc)}") from None
    try:
        if resp.status_code != 200:
            # Docker's wording (remotecontext.GetWithStatusError).
            raise TuidockError(
                f"failed to GET {url} with status {resp.status_code} {resp.reason}".rstrip()
            )
        resp.raw.decode_content = False
        yield _Body(resp, url)  # type: ignore[misc]
    finally:
        resp.close()
        session.close()
