"""`tuidock history` against the fixture images' own configs (read by skopeo)."""

from __future__ import annotations

import json

from clihelp import assert_clean_error, tuidock

from tuidock.runtime.engine import default_engine


def _pull(registry, name: str):
    img = registry.images[name]
    res = tuidock("pull", "-q", img.reference)
    assert res.code == 0, res.err
    return img


def test_history_pairs_steps_with_layers_newest_first(registry, tuidock_root):
    img = _pull(registry, "layers/whiteout")
    config = json.loads(img.config)
    steps = config["history"]
    res = tuidock("history", "--no-trunc", "-H", "false", "--format", "json", img.reference)
    assert res.code == 0, res.err
    rows = [json.loads(line) for line in res.out.splitlines()]
    assert [r["CreatedBy"] for r in rows] == [s.get("created_by", "") for s in reversed(steps)]
    assert rows[0]["ID"] == img.config_digest
    assert all(r["ID"] == "<missing>" for r in rows[1:])
    # Every layer's unpacked size appears once, on the step that made it.
    engine = default_engine()
    rec = engine.image(img.reference)
    layer_sizes = [engine.layers.info(c).size for c in rec.chain_ids]
    made = [r for r, s in zip(rows, reversed(steps), strict=True) if not s.get("empty_layer")]
    assert [int(r["Size"]) for r in reversed(made)] == layer_sizes
    assert all(int(r["Size"]) == 0 for r in rows if r not in made)
    assert sum(int(r["Size"]) for r in rows) == rec.size
    assert rows[0]["CreatedAt"] == steps[-1]["created"]


def test_history_table_truncates_and_quiet_prints_ids(registry, tuidock_root):
    img = _pull(registry, "layers/whiteout")
    res = tuidock("history", img.reference)
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert lines[1].startswith(img.config_digest.removeprefix("sha256:")[:12])
    assert any("whiteout /gone, opaque /opq" in line for line in lines[2:])
    quiet = tuidock("image", "history", "-q", img.reference).out.split()
    assert quiet[0] == img.config_digest.removeprefix("sha256:")[:12]
    assert set(quiet[1:]) == {"<missing>"}


def test_history_of_an_unknown_image_is_a_clean_error(tuidock_root):
    assert_clean_error(tuidock("history", "no-such-image"))
