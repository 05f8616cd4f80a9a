"""The words a report's sentences are made of: what a compared number is called, a
magnitude, a change as a direction and a magnitude with its 95% interval."""

from __future__ import annotations

from lstm_overfit.report import COMPARED, Section, Stratum
from lstm_overfit.stats import Comparison


def number_name(section: Section, number: str) -> str:
    if number == "test":
        return f"the test {section.metric or 'metric'}"
    return COMPARED[number][0]


def magnitude(x: float) -> str:
    x = abs(x)
    return f"{x:.1f}" if x >= 100 else f"{x:.4f}" if x >= 1e-3 or x == 0 else f"{x:.2g}"


def interval(low: float, high: float) -> str:
    return "[" + ", ".join(("-" if x < 0 else "") + magnitude(x) for x in (low, high)) + "]"


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def at_stratum(stratum: Stratum) -> str:
    return f" at {stratum.label}" if stratum.label else ""


def unit_of(section: Section, number: str) -> str:
    return "" if number == "test" else f" {section.loss_unit}".rstrip()


def change(c: Comparison, unit: str = "", survives: bool = False) -> str:
    """'0.0104 lower [0.0035, 0.0174] nats': the direction, the magnitude and its 95%
    interval in that direction († where it holds after the adjustment)."""
    if not c.defined:
        return "undefined (a value that is not a finite number)"
    if c.mean == 0:
        return "no change"
    adjective = "higher" if c.mean > 0 else "lower"
    if c.low is None:
        return f"{magnitude(c.mean)}{unit} {adjective} (n={c.seeds}: too few seeds for an interval)"
    low, high = (c.low, c.high) if c.mean > 0 else (-c.high, -c.low)
    return f"{magnitude(c.mean)} {interval(low, high)}{unit} {adjective}{'†' * survives}"
