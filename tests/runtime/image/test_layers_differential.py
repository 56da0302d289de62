"""The root filesystem we assemble is the one umoci (and podman) assemble.

For each fixture image: `tuidock image mount` (overlay of our unpacked
layers) against `umoci unpack` of the same image from the OCI layout it was
pushed from, and against `podman image mount` where podman is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from clihelp import tuidock
from treewalk import describe, differences

from tuidock.core.digest import chain_ids

# (registry name, layout tag)
IMAGES = [
    ("layers/whiteout", "whiteout"),
    ("demo/multilayer", "multilayer"),
    ("oci/busybox", "busybox"),
]


def _umoci_tree(layout, tag: str, dest: Path) -> Path:
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout.path}:{tag}", str(dest)],
        check=True,
        capture_output=True,
    )
    return dest / "rootfs"


@pytest.mark.parametrize(("name", "tag"), IMAGES)
def test_mount_equals_umoci_unpack(
    registry, fixture_layout, tuidock_root, tmp_path, name, tag
) -> None:
    img = registry.images[name]
    assert tuidock("pull", "-q", img.reference).code == 0
    res = tuidock("image", "mount", img.reference)
    assert res.code == 0, res.err
    mounted = Path(res.out.strip())
    try:
        ours = describe(mounted)
        theirs = describe(_umoci_tree(fixture_layout, tag, tmp_path / "bundle"))
        # umoci's bundle root carries its own mode; compare the contents.
        assert differences(ours, theirs) == []
        assert not any(Path(p).name.startswith(".wh.") for p in ours)
    finally:
        assert tuidock("image", "unmount", img.reference).code == 0
    assert not os.path.ismount(mounted)


def test_whiteout_fixture_expectations(registry, tuidock_root) -> None:
    img = registry.images["layers/whiteout"]
    expect = img.expect
    assert tuidock("pull", "-q", img.reference).code == 0
    root = Path(tuidock("image", "mount", img.reference).out.strip())
    try:
        for p in expect["present"]:
            assert os.path.lexists(f"{root}{p}"), p
        for p in expect["absent"]:
            assert not os.path.lexists(f"{root}{p}"), p
        for a, b in expect["hardlinks"]:
            assert os.stat(f"{root}{a}").st_ino == os.stat(f"{root}{b}").st_ino
        for p, target in expect["symlinks"].items():
            assert os.readlink(f"{root}{p}") == target
        for p, mode in expect["modes"].items():
            assert os.lstat(f"{root}{p}").st_mode & 0o7777 == mode, p
        for p, (uid, gid) in expect["owners"].items():
            st = os.lstat(f"{root}{p}")
            assert (st.st_uid, st.st_gid) == (uid, gid)
        for p, xattrs in expect["xattrs"].items():
            for k, v in xattrs.items():
                assert os.getxattr(f"{root}{p}", k).decode() == v
        for p, text in expect["contents"].items():
            assert Path(f"{root}{p}").read_text() == text
        # Mounted read-only: nothing can be written through the view.
        with pytest.raises(OSError):
            Path(f"{root}/newfile").write_text("x")
    finally:
        tuidock("image", "unmount", img.reference)


def test_rmi_of_mounted_image_is_refused(registry, tuidock_root) -> None:
    img = registry.images["oci/busybox"]
    tuidock("pull", "-q", img.reference)
    tuidock("image", "mount", img.reference)
    try:
        res = tuidock("rmi", img.reference)
        assert res.code != 0 and "unmount" in res.err
    finally:
        tuidock("image", "unmount", img.reference)
    assert tuidock("rmi", img.reference).code == 0


def test_shared_layers_stored_once(registry, tuidock_root) -> None:
    base, layered = registry.images["busybox"], registry.images["demo/multilayer"]
    for img in (base, layered):
        assert tuidock("pull", "-q", img.reference).code == 0
    wanted = {c[7:] for c in chain_ids(list(base.diff_ids)) + chain_ids(list(layered.diff_ids))}
    assert {p.name for p in (tuidock_root / "layers").iterdir()} == wanted


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman not installed")
@pytest.mark.parametrize("name", ["layers/whiteout", "demo/multilayer"])
def test_mount_equals_podman_image_mount(registry, tuidock_root, name) -> None:
    import tempfile

    img = registry.images[name]
    tmp_path = Path(tempfile.mkdtemp(prefix="tdp-"))  # podman wants a short runroot
    conf = tmp_path / "containers.conf"
    conf.write_text('[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    podman = [
        "podman",
        "--root",
        str(tmp_path / "proot"),
        "--runroot",
        str(tmp_path / "prun"),
        "--storage-driver",
        "overlay",
    ]
    pulled = subprocess.run(
        [*podman, "pull", "-q", "--tls-verify=false", img.reference],
        capture_output=True,
        text=True,
        env=env,
    )
    assert pulled.returncode == 0, pulled.stderr
    theirs_path = subprocess.run(
        [*podman, "image", "mount", img.reference],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()
    assert tuidock("pull", "-q", img.reference).code == 0
    ours_path = tuidock("image", "mount", img.reference).out.strip()
    try:
        # containers/storage stamps the directories a layer creates implicitly
        # (parents it does not list) with the unpack time; we, like umoci and
        # containerd, keep the lower layer's attributes: directory mtimes differ.
        ours = describe(Path(ours_path), dir_mtimes=False)
        theirs = describe(Path(theirs_path), dir_mtimes=False)
        assert differences(ours, theirs) == []
    finally:
        tuidock("image", "unmount", img.reference)
        subprocess.run([*podman, "image", "unmount", "-a"], capture_output=True, env=env)
        subprocess.run([*podman, "rmi", "-a", "-f"], capture_output=True, env=env)
        subprocess.run(["umount", "-R", "-l", str(tmp_path / "proot")], capture_output=True)
        shutil.rmtree(tmp_path, ignore_errors=True)
