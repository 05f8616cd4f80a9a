"""The schema's `reg` node, assembled from the registered regularizers' knobs, and which
regularizers a config switches on.

The assembled dataclass subclasses config.RegConfig, so a typed field still fails at compose
time naming the key, `--help` prints each knob's help, and validation checks its range. It
is resolved by name through this module (`Regularizers`), so a config pickled for a
launcher's worker unpickles there, once the worker has found the same plug-ins.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import make_dataclass
from enum import Enum
from typing import Any

from lstm_overfit.config import RegConfig
from lstm_overfit.knobs import knob
from lstm_overfit.regularizers.contract import Knob
from lstm_overfit.regularizers.registry import knobs, regularizers

SCHEMA_NAME = "Regularizers"


@functools.cache
def reg_schema() -> type[RegConfig]:
    """The dataclass of the `reg` node: one field per knob, zero (off) by default."""
    fields = [(k.name, k.type, knob(k.default, k.help, k.range)) for k in knobs()]
    schema = make_dataclass(SCHEMA_NAME, fields, bases=(RegConfig,))
    schema.__module__ = __name__
    schema.__doc__ = (
        "Regularizer strengths. Zero means off, so a sweep over 0 includes the baseline."
    )
    return schema


def __getattr__(name: str) -> Any:
    if name == SCHEMA_NAME:
        return reg_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def presets() -> dict[str, dict[str, Any]]:
    """Each regularizer's `+reg=NAME` preset: the values of its knobs that declare one."""
    return {
        r.name: {k.name: k.preset for k in r.knobs if k.preset is not None} for r in regularizers()
    }


def active(values: Any) -> dict[str, Any]:
    """The knobs of the regularizers switched on that differ from their defaults: their
    strengths in the registry's order, then their settings (penalty_scope, where a weight
    regularizer is on). `values`: the reg node, or a mapping of knob name to value (a knob
    missing from it is at its default). The summary, the logs, the plots' titles and the
    report's labels all use this one definition."""

    def read(k: Knob) -> Any:
        if isinstance(values, Mapping):
            return values.get(k.name, k.default)
        return getattr(values, k.name, k.default)

    strengths: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for regularizer in regularizers():
        if not any(read(k) != k.default for k in regularizer.knobs if not k.setting):
            continue
        for k in regularizer.knobs:
            if (value := read(k)) != k.default:
                plain = value.value if isinstance(value, Enum) else value
                (settings if k.setting else strengths).setdefault(k.name, plain)
    return {**strengths, **settings}


def label(values: Any, separator: str = ", ") -> str:
    """The active knobs as `l2=0.001, penalty_scope=all`, or `none`."""
    on = active(values)
    return (
        separator.join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in on.items())
        or "none"
    )


# The config node that holds the knobs (Config.reg).
NODE = "reg"


def config_keys(recorded: Iterable[str] = ()) -> set[str]:
    """The dotted config keys of every registered knob, and of the knobs named in
    `recorded` (those a run's summary lists as on: a plug-in this process did not load)."""
    return {f"{NODE}.{name}" for name in [*(k.name for k in knobs()), *recorded]}


def active_settings(flat: Mapping[str, Any], recorded: Iterable[str] = ()) -> dict[str, Any]:
    """`active` over a flattened config ({"reg.l2": 0.001, ...}), as dotted keys; knobs of
    plug-ins this process did not load count as on where the run's summary recorded them
    (`recorded`)."""
    declared = {k.name for k in knobs()}
    prefix = f"{NODE}."
    values = {k[len(prefix) :]: v for k, v in flat.items() if k.startswith(prefix)}
    on = {
        f"{prefix}{k}": v for k, v in active({k: values[k] for k in declared & set(values)}).items()
    }
    for name in recorded:
        if name not in declared and name in values:
            on[f"{prefix}{name}"] = values[name]
    return on


def reg_config(**values: Any) -> RegConfig:
    """A `reg` node with the given knobs set and the rest off, as code builds one."""
    return reg_schema()(**values)
