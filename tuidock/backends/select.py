"""open_backend: the Backend for an Endpoint.

The embedded engine is the LocalBackend; every other endpoint is a Docker
Engine API (Docker, or Podman's compatible service) driven by the Docker
backend, imported only here and only then: the Docker SDK and requests cost
a CLI start that does not need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tuidock.errors import TuidockError

if TYPE_CHECKING:
    from tuidock.backends.base import Backend
    from tuidock.backends.endpoint import Endpoint


class BackendUnavailable(TuidockError):
    """The endpoint needs a backend this installation does not have."""


def open_backend(endpoint: Endpoint) -> Backend:
    if endpoint.is_local:
        from tuidock.backends.local import open_local

        return open_local()
    try:
        from tuidock.backends.docker import DockerBackend
    except ModuleNotFoundError as exc:
        if exc.name != "docker":
            raise
        raise BackendUnavailable(
            f"{endpoint.host}: the Docker SDK for Python is not installed",
            "Install it (pip install docker) to drive Docker and Podman engines.",
        ) from None
    return DockerBackend(endpoint)
