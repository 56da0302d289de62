"""Input Docker, Podman or runc refuse is refused here too, with their wording,
before anything is created."""

from __future__ import annotations

import functools
import http.server
import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelp import assert_clean_error, tuidock
from containerhelp import image_fixture, no_leftovers_fixture

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def refused(*args: str, code: int = 125, pulled: bool = False) -> str:
    """Run the CLI, check it failed cleanly with `code`; its stderr (from the error
    on, after the progress of a pull if `pulled`)."""
    res = tuidock(*args)
    if pulled:
        assert res.err.startswith("Unable to find image"), res.err
        res.err = res.err[res.err.index("Error: ") :]
    assert_clean_error(res)
    assert res.code == code, (args, res.err)
    return res.err


def test_mounts_over_proc_are_refused(image: str, tmp_path: Path) -> None:
    src = tmp_path / "d"
    src.mkdir()
    for flags in (
        ("-v", f"{src}:/proc"),
        ("--tmpfs", "/proc"),
        ("--mount", f"type=bind,source={src},target=/proc/"),
        ("--mount", "type=volume,target=/proc"),
    ):
        err = refused("run", "--rm", *flags, image, "true")
        assert '"/proc" cannot be mounted because it is not of type proc' in err, err
    for target in ("/proc/sys", "/proc/self/x", "/proc/net"):
        err = refused("create", "-v", f"{src}:{target}", image, "true")
        assert f'"{target}" cannot be mounted because it is inside /proc' in err, err
    assert tuidock("ps", "-aq").out == ""
    assert tuidock("volume", "ls", "-q").out == ""
    # What runc allows: a procfs over /proc, lxcfs-style files inside it.
    (tmp_path / "uptime").write_text("1.00 2.00\n")
    res = tuidock(
        "run",
        "--rm",
        "-v",
        "/proc:/proc",
        "-v",
        f"{tmp_path / 'uptime'}:/proc/uptime:ro",
        image,
        "cat",
        "/proc/uptime",
    )
    assert res.code == 0, res.err
    assert res.out == "1.00 2.00\n"


def test_dns_and_add_host_are_checked(image: str) -> None:
    err = refused("run", "--rm", "--dns", "notanip", image, "true")
    assert 'invalid argument "notanip" for "--dns" flag: notanip is not an ip address' in err
    err = refused("create", "--add-host", "x", image, "true")
    assert 'invalid argument "x" for "--add-host" flag: bad format for add-host: "x"' in err
    err = refused("create", "--add-host", "h:notanip", image, "true")
    assert 'invalid IP address in add-host: "notanip"' in err
    assert tuidock("ps", "-aq").out == ""
    res = tuidock(
        "run",
        "--rm",
        "--dns",
        "192.0.2.53",
        "--add-host",
        "v6:[fd00::1]",
        "--add-host",
        "v4:192.0.2.1",
        image,
        "cat",
        "/etc/resolv.conf",
        "/etc/hosts",
    )
    assert res.code == 0, res.err
    assert "nameserver 192.0.2.53" in res.out and "192.0.2.1\tv4" in res.out


def test_relative_workdir_is_refused(image: str) -> None:
    want = "the working directory 'relative/dir' is invalid, it needs to be an absolute path"
    assert want in refused("run", "--rm", "-w", "relative/dir", image, "true")
    assert want in refused("create", "--workdir", "relative/dir", image, "true")
    assert tuidock("ps", "-aq").out == ""
    assert tuidock("run", "-d", "--name", "wd", image, "sleep", "60").code == 0
    assert want in refused("exec", "-w", "relative/dir", "wd", "pwd")
    res = tuidock("exec", "-w", "/tmp", "wd", "pwd")
    assert (res.code, res.out) == (0, "/tmp\n"), res.err
    tuidock("rm", "-f", "wd")


def test_format_templates_are_strict(image: str) -> None:
    for args in (("ps", "-a"), ("ps",)):  # no container: checked all the same
        err = refused(*args, "--format", "{{.Nonexistent}}", code=125)
        assert 'template: :1:2: executing "" at <.Nonexistent>: ' in err, err
        assert "can't evaluate field Nonexistent" in err and "Valid fields: " in err, err
        assert "Names" in err
    assert tuidock("create", "--name", "fmt", image, "true").code == 0
    err = refused("ps", "-a", "--format", "table {{.Names}}\\t{{ .Bogus }}")
    assert "<.Bogus>: can't evaluate field Bogus" in err and ":1:14:" in err, err
    assert tuidock("ps", "-a", "--format", "{{.Names}}").out == "fmt\n"
    for args in (
        ("images", "--format", "{{.Bad"),
        ("images", "--format", "table {{.ID}}\\t{{.Bad"),
        ("inspect", "--format", "{{.Id", "fmt"),
        ("volume", "ls", "--format", "{{.Name"),
        ("history", "--format", "{{.ID", image),
        ("events", "--since", "0", "--until", "1", "--format", "{{.Type"),
        ("system", "df", "--format", "{{.Type"),
    ):
        err = refused(*args, code=125)
        assert "template: :1: unclosed action" in err, (args, err)
    err = refused("inspect", "--format", "{{.Config.Nope}}", "fmt")
    assert "can't evaluate field Nope" in err
    assert tuidock("images", "--format", "{{.Bad").out == ""
    tuidock("rm", "fmt")


def test_platform_is_parsed_and_honoured(image: str, registry) -> None:
    err = refused("run", "--rm", "--platform", "bogus", image, "true")
    assert '"bogus": unknown operating system or architecture: invalid argument' in err
    # A local image of another platform is pulled anew for the one asked for...
    multi = registry.images["multi/busybox"].reference
    assert tuidock("pull", "-q", "--platform", "linux/amd64", multi).code == 0
    res = tuidock("create", "--name", "arm", "--platform", "linux/arm64", multi, "true")
    assert res.code == 0, res.err
    assert f"Unable to find image '{multi}' locally" in res.err
    inspected = tuidock("image", "inspect", "--format", "{{.Architecture}}", multi)
    assert inspected.out == "arm64\n"
    err = refused("create", "--platform", "linux/s390x", multi, "true", pulled=True)
    assert "no matching manifest for linux/s390x" in err
    # ...and when the registry has it only for another platform, Docker's error.
    err = refused("create", "--platform", "linux/s390x", image, "true", pulled=True)
    assert (
        f"image with reference {image} was found but does not match the specified platform: "
        "wanted linux/s390x, actual: linux/amd64"
    ) in err
    assert tuidock("ps", "-a", "--format", "{{.Names}}").out == "arm\n"
    tuidock("rm", "arm")


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on loopback, and its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_import_from_url(http_dir: tuple[Path, str], tuidock_root: Path) -> None:
    root, base = http_dir
    with tarfile.open(root / "rootfs.tar.gz", "w:gz") as tar:
        data = b"from the web\n"
        info = tarfile.TarInfo("etc/greeting")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    res = tuidock("import", f"{base}/rootfs.tar.gz", "web/img:1")
    assert res.code == 0, res.err
    image_id = res.out.strip()
    assert image_id.startswith("sha256:")
    assert tuidock("images", "-q", "--no-trunc", "web/img:1").out.split() == [image_id]
    err = refused("import", f"{base}/missing.tar", code=1)
    assert f"failed to GET {base}/missing.tar with status 404" in err
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    err = refused("import", f"http://127.0.0.1:{port}/x.tar", code=1)
    assert f"cannot download http://127.0.0.1:{port}/x.tar: connection refused" in err
    assert tuidock("images", "-q").out.split() == [image_id[7:19]]
    assert not any((tuidock_root / "tmp").iterdir())
