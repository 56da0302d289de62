"""Every Backend implementation has every method of the protocol, with its parameters.

typing.Protocol is checked only by a type checker; this keeps an
implementation from drifting away from base.Backend between mypy runs.
"""

from __future__ import annotations

import inspect

import pytest

from tuidock.backends.base import Backend
from tuidock.backends.docker import DockerBackend
from tuidock.backends.local import LocalBackend

IMPLEMENTATIONS = [LocalBackend, DockerBackend]


def protocol_members() -> list[str]:
    return sorted(
        name
        for name, value in vars(Backend).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    )


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_implements_every_member_with_the_same_parameters(impl: type) -> None:
    for name in protocol_members():
        want = vars(Backend)[name]
        got = getattr(impl, name, None)
        assert got is not None, f"{impl.__name__} lacks {name}"
        if isinstance(want, property):
            assert isinstance(got, property), f"{impl.__name__}.{name} is not a property"
            continue
        assert list(inspect.signature(got).parameters) == list(
            inspect.signature(want).parameters
        ), f"{impl.__name__}.{name} takes other parameters than Backend.{name}"


def test_run_spec_and_network_summary_are_neutral() -> None:
    """What the UI hands a backend is text as typed and flags: no engine type, no
    parsed size, so every backend parses it with its own engine's rules."""
    import dataclasses

    from tuidock.backends.base import (
        DiskUsage,
        DiskUsageRow,
        NetworkSummary,
        PruneOutcome,
        RunSpec,
        VolumeSummary,
    )

    for model in (RunSpec, NetworkSummary):
        for f in dataclasses.fields(model):
            assert str(f.type).split("[")[0].split(" |")[0] in {"str", "list", "bool", "tuple"}, (
                f"{model.__name__}.{f.name}: {f.type}"
            )
    # The results of the volume, network and disk verbs: plain values, and
    # containers named as the user knows them (names, not engine records).
    for model in (VolumeSummary, DiskUsage, DiskUsageRow, PruneOutcome):
        for f in dataclasses.fields(model):
            assert str(f.type).split("[")[0] in {"str", "list", "int", "tuple", "dict"}, (
                f"{model.__name__}.{f.name}: {f.type}"
            )
    assert RunSpec("busybox").network == "bridge", "the CLI's default network"


def test_local_backend_lists_the_default_bridge_first(tuidock_root) -> None:
    from tuidock.backends.local import LocalBackend
    from tuidock.runtime.engine import Engine

    nets = LocalBackend(Engine(tuidock_root)).list_networks()
    assert [(n.name, n.driver) for n in nets] == [("bridge", "bridge")]
    assert nets[0].id
