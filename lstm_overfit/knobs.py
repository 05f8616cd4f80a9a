"""A knob: a schema field declared with its one-line description and the values it accepts.

config.py declares every knob with `knob(...)`; `lstm-overfit train --help` prints the
descriptions (`help_lines`) and validation.py checks the ranges (`out_of_range`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """The values a knob accepts (None: unbounded on that side), and a valid one to suggest."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    example: Any = None  # None: the default

    def holds(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def rule(self) -> str:
        if self.high is None:
            return f"it must be {'>' if self.low_open else '>='} {self.low:g}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"it must be in {left}{self.low:g}, {self.high:g}{right}"


COUNT = Range(1)  # a size or a count: at least one
FRACTION = Range(0, 0.5, low_open=True, high_open=True)  # a share of a series
STRENGTH = Range(0)  # a regularizer's strength: zero is off
RATE = Range(0, 1, high_open=True, example=0.5)  # a dropout rate
ZONEOUT = Range(0, 1, example=0.1)  # a zoneout rate: 1 keeps every unit


def knob(default: Any, help: str, range: Range | None = None, execution: bool = False) -> Any:
    """A schema field, its one-line description and the values it accepts. `execution`
    marks a knob that says where or how a run executes, not what it computes: a resumed run
    may change it, job folders are not named by it and a report does not compare by it."""
    metadata = {"help": help, "range": range, "execution": execution}
    if is_dataclass(default):
        return field(default_factory=type(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def help_lines(obj: Any, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(key, value, description) for every leaf knob of a config object, in schema order."""
    lines = []
    for f in fields(obj):
        value, key = getattr(obj, f.name), f"{prefix}{f.name}"
        if is_dataclass(value):
            lines += help_lines(value, f"{key}.")
        else:
            lines.append((key, value, f.metadata.get("help", "")))
    return lines


def execution_keys(obj: Any, prefix: str = "") -> list[str]:
    """The dotted keys of every knob declared with `execution=True`, recursively."""
    keys = []
    for f in fields(obj):
        value, key = getattr(obj, f.name), f"{prefix}{f.name}"
        if is_dataclass(value):
            keys += execution_keys(value, f"{key}.")
        elif f.metadata.get("execution"):
            keys.append(key)
    return keys


def out_of_range(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any, str, Any]]:
    """(key, value, rule, a valid value) for every knob outside its declared range, and every
    float that is not finite (inf, nan), recursively; None (all there is, or unset) passes."""
    for f in fields(obj):
        value, key = getattr(obj, f.name), f"{prefix}{f.name}"
        if is_dataclass(value):
            yield from out_of_range(value, f"{key}.")
            continue
        bounds = f.metadata.get("range")
        example = f.default if bounds is None or bounds.example is None else bounds.example
        if isinstance(value, float) and not math.isfinite(value):
            # 1e400 reads as inf: no knob means anything by a number that is not finite.
            rule = "it must be a finite number (a value beyond 1.8e308 reads as inf)"
            yield key, value, f"{rule} ({key}: {f.metadata['help']})", example
            continue
        if bounds is None or value is None or bounds.holds(value):
            continue
        yield key, value, f"{bounds.rule()} ({key}: {f.metadata['help']})", example
