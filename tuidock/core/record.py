"""Record: plain value classes with __slots__, declared as dataclasses are.

`dataclasses` costs a CLI start ~6 ms to import (it pulls in inspect, ast,
dis, tokenize) and ~1 ms per class for the code it generates and compiles,
which `run`, `images` and `rm` paid before any work. A Record subclass is
declared the same way (annotated fields, defaults, `field(default_factory=)`)
and gets, from a small metaclass and without compiling anything: __slots__,
an __init__ taking the fields by position or name, field-wise __eq__ and
__repr__, `as_dict()` (dataclasses.asdict) and `replace()`
(dataclasses.replace). `class P(Record, frozen=True)` makes instances
immutable and hashable, as @dataclass(frozen=True). No inheritance between
records: a record's fields are its own annotations.
"""

from __future__ import annotations

_MISSING = object()


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: object) -> None:
        self.make = make


def field(*, default_factory: object) -> object:
    """A default made afresh for each instance (a list, a dict...), as dataclasses.field."""
    return _Factory(default_factory)


class _RecordMeta(type):
    def __new__(mcs, name: str, bases: tuple, ns: dict, frozen: bool = False) -> type:
        if not bases:  # Record itself
            return super().__new__(mcs, name, bases, ns)
        fields = tuple(ns.get("__annotations__", {}))
        defaults = {f: ns.pop(f) for f in fields if f in ns}
        ns["__slots__"] = fields
        cls = super().__new__(mcs, name, bases, ns)
        cls._FIELDS = fields
        cls._DEFAULTS = defaults
        cls._FROZEN = frozen
        if frozen:
            cls.__setattr__ = _frozen_setattr
            cls.__delattr__ = _frozen_setattr
            cls.__hash__ = lambda self: hash(self._values())
        return cls


def _frozen_setattr(self: object, name: str, *value: object) -> None:
    raise AttributeError(f"cannot assign to field {name!r}")


class Record(metaclass=_RecordMeta):
    __slots__ = ()
    _FIELDS: tuple[str, ...]
    _DEFAULTS: dict[str, object]
    _FROZEN: bool

    def __init__(self, *args: object, **kwargs: object) -> None:
        cls = type(self)
        fields = cls._FIELDS
        if len(args) > len(fields):
            raise TypeError(f"{cls.__name__}() takes {len(fields)} arguments, got {len(args)}")
        for f, value in zip(fields, args, strict=False):
            if f in kwargs:
                raise TypeError(f"{cls.__name__}() got multiple values for argument {f!r}")
            kwargs[f] = value
        if unknown := kwargs.keys() - set(fields):
            raise TypeError(f"{cls.__name__}() got unexpected arguments {sorted(unknown)}")
        put = object.__setattr__
        for f in fields:
            value = kwargs.get(f, _MISSING)
            if value is _MISSING:
                value = cls._DEFAULTS.get(f, _MISSING)
                if value is _MISSING:
                    raise TypeError(f"{cls.__name__}() missing argument {f!r}")
                if type(value) is _Factory:
                    value = value.make()  # type: ignore[operator]
            put(self, f, value)

    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable unless frozen

    def __repr__(self) -> str:
        args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._FIELDS)
        return f"{type(self).__name__}({args})"

    def as_dict(self) -> dict:
        """The fields as a dict, nested records, lists and dicts copied (dataclasses.asdict)."""
        return {f: _plain(getattr(self, f)) for f in self._FIELDS}

    def replace(self, **changes: object):  # -> the same type
        """A copy with some fields changed (dataclasses.replace)."""
        return type(self)(**{**{f: getattr(self, f) for f in self._FIELDS}, **changes})

    @classmethod
    def from_dict(cls, data: dict):  # -> cls
        """An instance from a dict, ignoring keys that are not fields (newer files)."""
        return cls(**{k: v for k, v in data.items() if k in cls._FIELDS})


def _plain(value: object) -> object:
    if isinstance(value, Record):
        return value.as_dict()
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
