"""The README quick-start: an offline demo registry that mirrors docker.io."""

from __future__ import annotations

import os
import time
from pathlib import Path

from clihelp import tuidock

from tuidock.demo import registry as demo_registry


def _gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_demo_offline_then_pull_by_docker_hub_names(tuidock_root: Path) -> None:
    import json

    res = tuidock("demo", "--offline", timeout=180)
    state = tuidock_root / "demo" / "registry" / "registry.json"
    pid = json.loads(state.read_text())["pid"] if state.exists() else None
    try:
        assert res.code == 0, res.err
        assert "mirrors docker.io" in res.out
        assert "Pulled busybox" in res.out and "Pulled demo/multilayer" in res.out
        cfg = (Path(os.environ["TUIDOCK_CONFIG"]) / "registries.toml").read_text()
        assert '[registries."docker.io"]' in cfg
        pulled = tuidock("pull", "busybox")
        assert pulled.code == 0, pulled.err
        assert pulled.out.splitlines()[-1] == "docker.io/library/busybox:latest"
        assert tuidock("pull", "demo/multilayer").code == 0
        images = tuidock("images").out
        assert "busybox " in images and "demo/multilayer " in images
        # A second start reuses the running registry.
        again = tuidock("demo", "--offline")
        assert again.code == 0
        assert json.loads(state.read_text())["pid"] == pid
    finally:
        stopped = tuidock("demo", "--stop")
    assert stopped.code == 0, stopped.err
    assert demo_registry.demo_status(tuidock_root / "demo") is None
    assert pid is not None and _gone(pid)
    cfg = (Path(os.environ["TUIDOCK_CONFIG"]) / "registries.toml").read_text()
    assert "127.0.0.1" not in cfg
