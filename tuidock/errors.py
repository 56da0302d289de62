"""Errors that reach the user as one or two lines, never as a traceback.

Every failure the engine expects (bad input, registry refusals, corrupt data)
is a TuidockError carrying what failed and, where it helps, what to do next.
"""

from __future__ import annotations


class TuidockError(Exception):
    """A failure the user can act on; `hint` says how."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class InvalidReference(TuidockError):
    """An image name that does not parse."""

    exit_code = 125


class UsageError(TuidockError):
    exit_code = 125


class NotFound(TuidockError):
    """An image, container, tag or blob that does not exist."""


class Conflict(TuidockError):
    """The action would break something that uses the object (e.g. rmi of a used image)."""

    exit_code = 1


class AmbiguousPrefix(TuidockError):
    """An ID prefix matches several objects."""


class RegistryError(TuidockError):
    """The registry refused, misbehaved or could not be reached."""


class AuthError(RegistryError):
    """Authentication failed or is required."""


class UnsupportedManifest(RegistryError):
    """A manifest type we cannot use (schema 1, unknown media types)."""


class DigestMismatch(RegistryError):
    """Content does not hash to the digest it was fetched by."""


class TooLarge(RegistryError):
    """Content larger than allowed or declared."""


class InvalidLayer(TuidockError):
    """A layer archive that is malformed or hostile."""


class PlatformMismatch(RegistryError):
    """No manifest in an index matches the requested platform."""
