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


class Unreachable(RegistryError):
    """No answer from a registry host: `reason` says why in a few words."""

    def __init__(self, message: str, hint: str | None, host: str, reason: str) -> None:
        super().__init__(message, hint)
        self.host = host
        self.reason = reason


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


class EngineUnreachable(TuidockError):
    """A Docker or Podman engine that does not answer: `reason` says why in a few words."""

    def __init__(self, message: str, hint: str | None, host: str, reason: str) -> None:
        super().__init__(message, hint)
        self.host = host
        self.reason = reason


def failure_reason(exc: BaseException) -> str:
    """One line saying why a setup step failed (the message, strerror and path, or the type)."""
    if isinstance(exc, TuidockError):
        return exc.message
    if isinstance(exc, OSError):
        text = exc.strerror or str(exc)
        if exc.filename is not None:
            text += f": {exc.filename}"
        return text
    return f"{type(exc).__name__}: {exc}"


def report(exc: TuidockError) -> int:
    """Print `exc` the CLI's way (what went wrong, then what to do) on stderr; its exit code."""
    import sys

    sys.stdout.flush()  # what was printed before the error comes before it
    print(f"Error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(exc.hint, file=sys.stderr)
    return exc.exit_code
