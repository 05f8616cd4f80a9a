"""How a run is stopped before its last epoch: divergence, and SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)


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
