"""An image's history, as `docker history` shows it: newest step first.

The config's `history` lists every build step; the steps that made a layer
(`empty_layer` not true) pair, in order, with the image's layers, whose
unpacked sizes the layer store knows. An image without history (imported,
or built by a tool that writes none) gets one row per layer, as Docker does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuidock.runtime.image.service import ImageService


@dataclass
class HistoryRow:
    id: str  # the image's ID on the top row, else "<missing>" as Docker shows
    created: str
    created_by: str
    size: int
    comment: str


def image_history(engine: ImageService, name: str) -> list[HistoryRow]:
    rec = engine.image(name)
    config = engine.image_config(rec)
    sizes = []
    for chain in rec.chain_ids:
        try:
            sizes.append(engine.layers.info(chain).size)
        except (OSError, ValueError, KeyError):
            sizes.append(0)
    steps = config.get("history")
    if not isinstance(steps, list) or not steps:
        steps = [{"created": config.get("created", "")} for _ in sizes]
    rows = []
    layer = 0
    for step in steps:
        if not isinstance(step, dict):
            continue
        size = 0
        if not step.get("empty_layer") and layer < len(sizes):
            size = sizes[layer]
            layer += 1
        rows.append(
            HistoryRow(
                "<missing>",
                str(step.get("created") or ""),
                str(step.get("created_by") or ""),
                size,
                str(step.get("comment") or ""),
            )
        )
    rows.reverse()
    if rows:
        rows[0].id = rec.id
    return rows
