"""Image references are normalised exactly as Docker normalises them."""

import pytest

from tuidock.core.reference import parse
from tuidock.errors import InvalidReference


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("user/app", "docker.io/user/app:latest", "user/app:latest"),
        ("docker.io/user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
        ("index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000/ns/app:tag", "localhost:5000/ns/app:tag", "localhost:5000/ns/app:tag"),
        ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest", "127.0.0.1:5000/a/b/c:latest"),
        ("quay.io/org/app", "quay.io/org/app:latest", "quay.io/org/app:latest"),
        ("a__b-c/d.e", "docker.io/a__b-c/d.e:latest", "a__b-c/d.e:latest"),
    ],
)
def test_normalisation(text: str, full: str, familiar: str) -> None:
    ref = parse(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


def test_digest_reference_has_no_default_tag() -> None:
    digest = "sha256:" + "ab" * 32
    ref = parse(f"busybox@{digest}")
    assert ref.tag is None
    assert ref.digest == digest
    assert ref.reference == digest
    assert str(ref) == f"docker.io/library/busybox@{digest}"


def test_tag_and_digest_together() -> None:
    digest = "sha256:" + "0" * 64
    ref = parse(f"host:5000/app:1@{digest}")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("host:5000", "app", "1", digest)
    assert ref.reference == digest


def test_a_registry_host_may_have_capitals() -> None:
    ref = parse("Registry.example:5000/app:Tag")
    assert (ref.domain, ref.path, ref.tag) == ("Registry.example:5000", "app", "Tag")


def test_port_is_not_a_tag() -> None:
    ref = parse("host:5000/app")
    assert ref.domain == "host:5000"
    assert ref.tag == "latest"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("BusyBox", "repository name (library/BusyBox) must be lowercase"),
        ("UPPERCASE/img", "invalid reference format: repository name (UPPERCASE/img) must be"),
        ("User/app:Tag", "repository name (User/app) must be lowercase"),
        ("localhost/App", "repository name (App) must be lowercase"),
        ("", "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("busybox:", "invalid tag"),
        ("busybox:-x", "invalid tag"),
        ("-busybox", "invalid reference format"),
        ("busybox@sha256:abc", "invalid digest"),
        (":tag", "no repository name"),
        (" busybox", "invalid reference format"),
        ("a/" + "b" * 300, "longer than"),
    ],
)
def test_invalid_names_are_clear_errors(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReference) as info:
        parse(text)
    assert fragment in str(info.value)
