"""Platform selection from an image index."""

import pytest

from tuidock.core.platforms import Platform, parse_platform, select_manifest
from tuidock.errors import PlatformMismatch, UsageError

INDEX = {
    "manifests": [
        {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
        {
            "digest": "sha256:arm7",
            "platform": {"os": "linux", "architecture": "arm", "variant": "v7"},
        },
        {"digest": "sha256:arm64", "platform": {"os": "linux", "architecture": "arm64"}},
        {"digest": "sha256:amd64", "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": "sha256:amd64b", "platform": {"os": "linux", "architecture": "amd64"}},
    ]
}


def test_first_match_wins_and_attestations_are_skipped() -> None:
    assert select_manifest(INDEX, Platform("linux", "amd64"), "x")["digest"] == "sha256:amd64"


def test_arm64_without_variant_is_v8() -> None:
    assert select_manifest(INDEX, Platform("linux", "arm64", "v8"), "x")["digest"] == "sha256:arm64"
    assert select_manifest(INDEX, parse_platform("linux/arm64"), "x")["digest"] == "sha256:arm64"


def test_variant_must_match() -> None:
    with pytest.raises(PlatformMismatch):
        select_manifest(INDEX, Platform("linux", "arm", "v6"), "x")


def test_no_match_lists_available_platforms() -> None:
    with pytest.raises(PlatformMismatch) as info:
        select_manifest(INDEX, Platform("linux", "s390x"), "busybox")
    text = str(info.value)
    assert "linux/s390x" in text
    assert "linux/amd64" in text and "linux/arm/v7" in text and "linux/arm64" in text
    assert "unknown" not in text


def test_parse_platform() -> None:
    assert parse_platform("linux/amd64") == Platform("linux", "amd64")
    assert parse_platform("linux/x86_64") == Platform("linux", "amd64")
    assert parse_platform("linux/arm/v7") == Platform("linux", "arm", "v7")
    # One word: an OS (the host's architecture) or an architecture (linux), as containerd.
    assert parse_platform("amd64") == Platform("linux", "amd64")
    assert parse_platform("linux").os == "linux"
    for text in ("bogus", "linux/", "a/b/c/d"):
        with pytest.raises(UsageError, match="invalid argument"):
            parse_platform(text)
    with pytest.raises(UsageError) as err:
        parse_platform("bogus")
    assert (
        err.value.message == '"bogus": unknown operating system or architecture: invalid argument'
    )
