"""Training speed as the user sees it: the rate of an epoch, and one warning when an epoch
runs several times slower than the run's fastest.

On a shared machine (a laptop, a lab server, a CI runner) torch's intra-op threads spin
waiting on each other while another process holds a core, and an epoch can take many times
as long as the one before; the warning names that cause and the knob that avoids it.
"""

from __future__ import annotations

import logging

from lstm_overfit.run_folder import EpochRecord, RunSummary

log = logging.getLogger(__name__)

# An epoch whose training pass runs this many times slower than the run's fastest is not
# the run's own variation (the first epoch's warm-up, a longer variable-length epoch).
SLOW_FACTOR = 3.0


def rate_text(per_second: float, unit: str) -> str:
    """12,345.6 -> '12.3k tokens/s'."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if per_second >= scale:
            return f"{per_second / scale:.1f}{suffix} {unit}/s"
    return f"{per_second:.0f} {unit}/s"


class SlowEpochWarning:
    """An observer of the run's epochs: warns once, at the first epoch whose training pass
    runs SLOW_FACTOR times slower than the fastest one before it."""

    def __init__(self, unit: str) -> None:
        """unit: what the rate counts, the task kind's `rate_unit` (tokens, steps)."""
        self.unit = unit
        self.fastest: float | None = None
        self.warned = False

    def start_epoch(self, epoch: int, num_batches: int) -> None:
        pass

    def batch_done(self, running_loss: float | None) -> None:
        pass

    def end_epoch(self, record: EpochRecord) -> None:
        rate = record.tokens_per_second
        if self.fastest and not self.warned and 0 < rate * SLOW_FACTOR <= self.fastest:
            self.warned = True
            log.warning(
                "epoch %d trained at %s, %.1fx slower than this run's fastest epoch (%s): "
                "the machine is likely busy with other processes, and torch's threads wait "
                "on each other for the cores they hold; train.num_threads=1 keeps a run "
                "steady on a shared machine",
                record.epoch,
                rate_text(rate, self.unit),
                self.fastest / rate,
                rate_text(self.fastest, self.unit),
            )
        self.fastest = rate if self.fastest is None else max(self.fastest, rate)

    def end_run(self, summary: RunSummary) -> None:
        pass
