"""How a run stops before its last epoch: the best epoch so far (which early stopping and
other regularizers' stop hooks read), divergence, SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import math
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)


class BestEpoch:
    """The best validation loss so far, its epoch (the best checkpoint's), and how many
    epochs have passed without a better one."""

    def __init__(self) -> None:
        self.best_loss = math.inf
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def update(self, epoch: int, val_loss: float) -> bool:
        """Record one epoch; True when it is a new best."""
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = val_loss, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"best_loss": self.best_loss, "best_epoch": self.best_epoch, "bad": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_loss, self.best_epoch = state["best_loss"], state["best_epoch"]
        self.bad_epochs = state["bad"]


class Diverged(Exception):
    """The loss became non-finite or exceeded train.max_loss."""


class Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stop_on_signals(run: Any) -> Iterator[None]:
    """SIGINT/SIGTERM ask the run to stop after the current batch; a second one acts at once."""
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in signals}

    def request_stop(signum: int, frame: Any) -> None:
        run.stop_signal = signum
        log.warning("%s received: stopping after this batch", signal.Signals(signum).name)
        for s, handler in previous.items():
            signal.signal(s, handler)

    try:
        for s in signals:
            signal.signal(s, request_stop)
    except ValueError:  # not the main thread (some launchers): signals keep their defaults
        previous = {}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
