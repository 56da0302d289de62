"""Sending blobs and manifests to a registry (OCI distribution spec, "push").

A blob the repository already has (HEAD 200) is not sent. One another
repository of the same registry is known to hold is mounted from there
(POST ?mount=&from=); a registry that cannot mount answers 202 with an
upload session, which is then used as for any upload. Small blobs go in one
PUT (monolithic); larger ones in PATCHes of `chunk` bytes, each with its
Content-Range, following the Location each answer gives, then a final PUT.
The registry's Docker-Content-Digest must name what was sent.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urljoin

import requests

from tuidock.errors import AuthError, DigestMismatch, RegistryError
from tuidock.runtime.image.registry.client import RegistryClient

DEFAULT_CHUNK = 64 << 20
READ_SIZE = 1 << 20
MAX_MOUNT_TRIES = 3


@dataclass(frozen=True)
class BlobOutcome:
    """How a blob reached the repository: "exists", "mounted" (from `source`) or "pushed"."""

    how: str
    source: str = ""


class FileSlice:
    """`length` bytes of a file from `offset`, as a request body of known length."""

    def __init__(self, path: Path, offset: int, length: int, report: Callable[[int], None]) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed when the body is sent
        self._file.seek(offset)
        self._left = length
        self._length = length
        self._report = report

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            self._file.close()
            return b""
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._file.read(want)
        if not data:
            self._file.close()
            raise RegistryError("a blob being pushed got shorter on disk")
        self._left -= len(data)
        self._report(len(data))
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(READ_SIZE):
            yield chunk


def chunk_size() -> int:
    """Blobs over this size are sent in chunks of it; TUIDOCK_PUSH_CHUNK overrides (k/m/g)."""
    text = os.environ.get("TUIDOCK_PUSH_CHUNK", "").strip().lower()
    if not text:
        return DEFAULT_CHUNK
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(text[-1], 1)
    number = text[:-1] if text[-1] in "kmg" else text
    try:
        value = int(number) * scale
    except ValueError:
        value = 0
    if value <= 0:
        raise RegistryError(
            f"TUIDOCK_PUSH_CHUNK={text!r} is not a size",
            "Give a number of bytes, optionally with k, m or g (e.g. 8m).",
        )
    return value


def _with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + urlencode({"digest": digest})


def _host_error(client: RegistryClient, resp: requests.Response, what: str) -> RegistryError:
    detail = client._error_text(resp)
    suffix = f" ({detail})" if detail else ""
    if resp.status_code == 403:
        return AuthError(
            f"{client.domain}: denied: requested access to {client.repository} is denied{suffix}",
            f"Check that your account (`tuidock login {client.domain}`) may push there.",
        )
    return RegistryError(
        f"{client.endpoint.host} answered HTTP {resp.status_code} to {what} "
        f"for {client.repository}{suffix}"
    )


class Uploader:
    """Puts blobs and manifests into `client`'s repository."""

    def __init__(self, client: RegistryClient, chunk: int | None = None) -> None:
        self.client = client
        self.client.actions = "pull,push"
        self.chunk = chunk or chunk_size()

    def has_blob(self, digest: str) -> bool:
        repo = self.client.repository
        resp = self.client.request("HEAD", f"/v2/{repo}/blobs/{digest}")
        resp.close()
        if resp.status_code == 200:
            return True
        if resp.status_code == 404:
            return False
        raise _host_error(self.client, resp, f"HEAD blob {digest[:19]}")

    def _location(self, resp: requests.Response, base: str) -> str:
        loc = resp.headers.get("Location")
        if not loc:
            raise RegistryError(
                f"{self.client.endpoint.host} answered {resp.status_code} to an upload "
                "without a Location header"
            )
        return urljoin(base, loc)

    def _start(self, mount: tuple[str, str] | None = None) -> tuple[str | None, bool]:
        """Open an upload session; with `mount` (digest, source repo) try mounting first.

        Returns (session URL or None, mounted).
        """
        path = f"/v2/{self.client.repository}/blobs/uploads/"
        if mount is not None:
            path += "?" + urlencode({"mount": mount[0], "from": mount[1]})
        resp = self.client.request("POST", path, headers={"Content-Length": "0"})
        resp.close()
        base = self.client.base_url() + path
        if resp.status_code == 201 and mount is not None:
            return None, True
        if resp.status_code == 202:
            return self._location(resp, base), False
        raise _host_error(self.client, resp, "the start of an upload")

    def _cancel(self, url: str) -> None:
        # The session would expire by itself; deleting it frees the space now.
        with contextlib.suppress(RegistryError):
            self.client.request("DELETE", url).close()

    def _check_digest(self, resp: requests.Response, digest: str, what: str) -> None:
        got = resp.headers.get("Docker-Content-Digest", "")
        if got and got != digest:
            raise DigestMismatch(
                f"{self.client.endpoint.host} stored {what} as {got}, but tuidock sent {digest}",
                "The registry or a proxy altered the upload; push again or check the registry.",
            )

    def push_blob(
        self,
        digest: str,
        path: Path,
        size: int,
        mount_from: list[str],
        report: Callable[[int], None],
    ) -> BlobOutcome:
        if self.has_blob(digest):
            return BlobOutcome("exists")
        url: str | None = None
        tries = mount_from[:MAX_MOUNT_TRIES]
        for i, source in enumerate(tries):
            scope = f"repository:{source}:pull"
            scopes = self.client.extra_scopes
            if scope not in scopes:
                scopes.append(scope)
            try:
                url, mounted = self._start((digest, source))
            except AuthError:
                # No read access to the source: try another, or upload the blob.
                if scope in scopes:
                    scopes.remove(scope)
                continue
            if mounted:
                return BlobOutcome("mounted", source)
            # 202: not there (or no mounting here); the registry opened an
            # ordinary upload instead, kept if no other source is left to try.
            if url is not None and i < len(tries) - 1:
                self._cancel(url)
                url = None
        if url is None:
            url = self._start()[0]
        assert url is not None
        try:
            self._send(url, digest, path, size, report)
        except BaseException:
            self._cancel(url)
            raise
        return BlobOutcome("pushed")

    def _send(
        self, url: str, digest: str, path: Path, size: int, report: Callable[[int], None]
    ) -> None:
        octet = {"Content-Type": "application/octet-stream"}
        if size > self.chunk:
            offset = 0
            while offset < size:
                length = min(self.chunk, size - offset)
                start = offset

                def body(start: int = start, length: int = length) -> FileSlice:
                    return FileSlice(path, start, length, report)

                headers = {
                    **octet,
                    "Content-Range": f"{start}-{start + length - 1}",
                    "Content-Length": str(length),
                }
                resp = self.client.request("PATCH", url, headers=headers, body=body)
                resp.close()
                if resp.status_code != 202:
                    raise _host_error(self.client, resp, f"a chunk of blob {digest[:19]}")
                url = self._location(resp, url)
                offset += length
            resp = self.client.request(
                "PUT", _with_digest(url, digest), headers={**octet, "Content-Length": "0"}
            )
        else:

            def whole() -> FileSlice | bytes:
                return FileSlice(path, 0, size, report) if size else b""

            resp = self.client.request(
                "PUT",
                _with_digest(url, digest),
                headers={**octet, "Content-Length": str(size)},
                body=whole,
            )
        resp.close()
        if resp.status_code not in (201, 204):
            raise _host_error(self.client, resp, f"the upload of blob {digest[:19]}")
        self._check_digest(resp, digest, f"blob {digest[:19]}")

    def put_manifest(self, reference: str, data: bytes, media_type: str, digest: str) -> None:
        resp = self.client.request(
            "PUT",
            f"/v2/{self.client.repository}/manifests/{reference}",
            headers={"Content-Type": media_type, "Content-Length": str(len(data))},
            body=lambda: data,
        )
        resp.close()
        if resp.status_code not in (200, 201, 202):
            raise _host_error(self.client, resp, "the manifest upload")
        self._check_digest(resp, digest, "the manifest")
