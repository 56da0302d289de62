"""Shared fixtures: real registries holding the fixture images, and a private tuidock root.

Registry fixtures are session-scoped and start lazily, only when a test asks
for them; each is a real docker-registry process on 127.0.0.1 at a free port.
Everything (processes, temp dirs) is removed at the end of the session.
Missing Debian tools fail the run loudly instead of skipping tests.

    def test_pull(registry, tuidock_root):
        image = registry.images["oci/busybox"]
        image.reference        # "127.0.0.1:PORT/oci/busybox:latest"
        image.manifest_digest  # what a pull must verify
        image.image_id         # config digest = IMAGE ID

See tests/rig/fixtures_images.py for every fixture image and attribute.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# With no tests/__init__.py pytest puts tests/ on sys.path itself; doing it
# here too keeps `import rig` and `import tuidock` working under plain `pytest`.
_TESTS_DIR = Path(__file__).resolve().parent
for _path in (str(_TESTS_DIR), str(_TESTS_DIR.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from rig.certs import make_test_ca  # noqa: E402
from rig.engines import EngineProc, EngineStartError, start_dockerd, start_podman  # noqa: E402
from rig.fixtures_images import (  # noqa: E402
    RegistryHandle,
    build_fixture_layout,
    push_fixtures,
)
from rig.tokenserver import TokenServer  # noqa: E402

from tuidock.demo import imagebuild  # noqa: E402
from tuidock.demo.imagebuild import OCILayout  # noqa: E402
from tuidock.demo.registry import REGISTRY_BIN, LocalRegistry  # noqa: E402

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuidock.backends.docker import DockerBackend

RIG_TOOLS = {
    REGISTRY_BIN: "docker-registry",
    "skopeo": "skopeo",
    "umoci": "umoci",
    str(imagebuild.BUSYBOX): "busybox-static",
    "htpasswd": "apache2-utils",
    "openssl": "openssl",
}

# Setup time of each rig fixture, printed at the end of the run.
RIG_TIMINGS: dict[str, float] = {}


def _require_tools() -> None:
    missing = sorted({pkg for tool, pkg in RIG_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        pytest.fail(
            f"test rig needs Debian packages {', '.join(missing)}: run "
            f"`apt-get install docker-registry skopeo umoci busybox-static apache2-utils "
            f"openssl`",
            pytrace=False,
        )


# Tests that need no root: pure values and the static checks of the tree.
# Everything else runs real containers, mounts, cgroups or network
# namespaces and is marked `root` (skipped, with the reason, for other users).
_UNPRIVILEGED = (
    "core/test_humanize.py",
    "core/test_platforms.py",
    "core/test_reference.py",
    "core/test_status.py",
    "architecture/test_layers.py",
    "architecture/test_backend_protocol.py",
    "cli/test_formatting.py",
    "test_interpreter.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs = pytest.mark.skip(reason="needs root: real containers, mounts and namespaces")
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(_TESTS_DIR).as_posix()
        if rel.startswith(_UNPRIVILEGED):
            continue
        item.add_marker(pytest.mark.root)
        if os.geteuid() != 0:
            item.add_marker(needs)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RIG_TIMINGS:
        parts = ", ".join(f"{name} {secs:.2f}s" for name, secs in RIG_TIMINGS.items())
        terminalreporter.write_line(f"test rig setup: {parts}")


class _Timer:
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        self.start = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        RIG_TIMINGS[self.name] = time.monotonic() - self.start


@pytest.fixture(scope="session")
def rig_dir() -> Iterator[Path]:
    """One temp dir for all the rig's work files, unique to this run."""
    _require_tools()
    path = Path(tempfile.mkdtemp(prefix=f"tuidock-rig-{os.getpid()}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def fixture_layout(rig_dir: Path) -> OCILayout:
    """The OCI layout holding every fixture image (tags: busybox, multilayer, multi, ...)."""
    with _Timer("build images"):
        return build_fixture_layout(rig_dir / "build")


@pytest.fixture(scope="session")
def registry(rig_dir: Path, fixture_layout: OCILayout) -> Iterator[RegistryHandle]:
    """Plain-HTTP registry with every fixture image; `.images[name]` describes each."""
    reg = LocalRegistry(workdir=rig_dir / "registry-plain")
    try:
        with _Timer("registry"):
            reg.start()
            images = push_fixtures(fixture_layout, reg.host)
        yield RegistryHandle(reg, images)
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def auth_registry(rig_dir: Path, fixture_layout: OCILayout) -> Iterator[RegistryHandle]:
    """htpasswd basic-auth registry with `auth/busybox`; `.user`, `.password`, `.creds`."""
    user, password = "tuidock", secrets.token_urlsafe(12)
    reg = LocalRegistry(workdir=rig_dir / "registry-basic", htpasswd_users={user: password})
    try:
        with _Timer("auth_registry"):
            reg.start()
            images = push_fixtures(
                fixture_layout,
                reg.host,
                {"auth/busybox": "oci/busybox"},
                creds=f"{user}:{password}",
            )
        yield RegistryHandle(reg, images, user=user, password=password)
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def token_registry(rig_dir: Path, fixture_layout: OCILayout) -> Iterator[RegistryHandle]:
    """Bearer-token registry with its issuer (`.token_server`).

    `.public_repo` (public/busybox) can be pulled anonymously, `.private_repo`
    (private/busybox) needs `.user`/`.password` at the token endpoint. The
    server is shared by the session: compare `token_server.request_count`
    before and after instead of expecting absolute numbers.
    """
    user, password = "tuidock", secrets.token_urlsafe(12)
    public, private = "public/busybox", "private/busybox"
    server = TokenServer(rig_dir / "token", users={user: password}, public_repos={public})
    reg: LocalRegistry | None = None
    try:
        with _Timer("token_registry"):
            server.start()
            # The realm holds the server's port, known only once it listens.
            reg = LocalRegistry(workdir=rig_dir / "registry-token", token=server.auth)
            reg.start()
            images = push_fixtures(
                fixture_layout,
                reg.host,
                {public: "oci/busybox", private: "oci/busybox"},
                creds=f"{user}:{password}",
            )
            server.reset()
        yield RegistryHandle(
            reg,
            images,
            user=user,
            password=password,
            token_server=server,
            public_repo=public,
            private_repo=private,
        )
    finally:
        if reg is not None:
            reg.stop()
        server.stop()


@pytest.fixture(scope="session")
def tls_registry(rig_dir: Path, fixture_layout: OCILayout) -> Iterator[RegistryHandle]:
    """HTTPS registry with `tls/busybox`; `.ca` is the CA cert, `.cert_dir` holds ca.crt."""
    ca = make_test_ca(rig_dir / "tls")
    reg = LocalRegistry(workdir=rig_dir / "registry-tls", tls=(ca.server_cert, ca.server_key))
    try:
        with _Timer("tls_registry"):
            reg.start()
            images = push_fixtures(
                fixture_layout, reg.host, {"tls/busybox": "oci/busybox"}, cert_dir=ca.cert_dir
            )
        yield RegistryHandle(reg, images, ca=ca.ca_cert, cert_dir=ca.cert_dir)
    finally:
        reg.stop()


# --- Docker and Podman engines ----------------------------------------------


@pytest.fixture(scope="session")
def daemon_ca(rig_dir: Path):
    """The test CA of the private dockerd's TLS port."""
    return make_test_ca(rig_dir / "dockerd-tls")


@pytest.fixture(scope="session")
def engines(registry: RegistryHandle, daemon_ca) -> Iterator[dict[str, EngineProc]]:
    """A private dockerd and Podman service (tests/rig/engines.py), by name; a str
    where that engine cannot start here."""
    started: dict[str, EngineProc] = {}
    failures: dict[str, str] = {}
    tls = (daemon_ca.ca_cert, daemon_ca.server_cert, daemon_ca.server_key)
    for name, start in (
        ("docker", lambda host: start_dockerd(host, tls)),
        ("podman", start_podman),
    ):
        try:
            started[name] = start(registry.host)
        except EngineStartError as e:
            failures[name] = str(e)
    try:
        yield started | {k: v for k, v in failures.items()}  # type: ignore[dict-item]
    finally:
        for engine in started.values():
            engine.stop()


@pytest.fixture(params=["docker", "podman"])
def engine(request: pytest.FixtureRequest, engines) -> EngineProc:
    """Each engine in turn: the test runs on Docker and on Podman."""
    got = engines[request.param]
    if isinstance(got, str):
        pytest.skip(f"{request.param} cannot start here: {got}")
    return got


@pytest.fixture
def backend(engine: EngineProc) -> Iterator[DockerBackend]:
    """A DockerBackend on `engine`, closed after the test."""
    from tuidock.backends.docker import DockerBackend
    from tuidock.backends.endpoint import Endpoint

    b = DockerBackend(Endpoint(engine.name, engine.host))
    try:
        yield b
    finally:
        b.close()


# --- per test ----------------------------------------------------------------


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    mounts = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                mounts.append(point)
    return mounts


@pytest.fixture
def tuidock_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh data root in $TUIDOCK_ROOT (and $TUIDOCK_CONFIG), removed after the test.

    A mount left inside it is a leak of the code under test: it is detached
    so the machine stays clean, and the test errors at teardown.
    """
    base = Path(tempfile.mkdtemp(prefix="tuidock-test-"))
    root, config = base / "root", base / "config"
    root.mkdir()
    config.mkdir()
    monkeypatch.setenv("TUIDOCK_ROOT", str(root))
    monkeypatch.setenv("TUIDOCK_CONFIG", str(config))
    monkeypatch.delenv("TUIDOCK_RUNTIME_DIR", raising=False)
    try:
        yield root
    finally:
        leaked = _mounts_under(base)
        for point in sorted(leaked, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    if leaked:
        pytest.fail(f"mounts left under the test's root: {', '.join(leaked)}", pytrace=False)


@pytest.fixture
def tuidock_config(tuidock_root: Path) -> Path:
    """$TUIDOCK_CONFIG of the test (empty dir)."""
    return Path(os.environ["TUIDOCK_CONFIG"])
