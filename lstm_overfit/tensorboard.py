"""`logger=tensorboard`: every per-epoch metric as TensorBoard scalars in the run folder, and
at the end the run's settings against its summary for the hparams table of a sweep.

Event files only, read by a local `tensorboard --logdir`: no account, no remote service. The
JSON files stay the run's record.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lstm_overfit.config import Config
from lstm_overfit.regularizers.schema import active
from lstm_overfit.run_folder import (
    HPARAMS,
    EpochRecord,
    RunSummary,
    as_settings,
    read_overrides,
    shown_in,
)

# Record fields that are bookkeeping, not metrics.
NOT_SCALARS = ("epoch", "ended_at")


def _hparam(value: Any) -> Any:
    """A value TensorBoard's hparams plugin accepts: a number, a bool or a string."""
    return value if isinstance(value, (int, float, bool, str)) else str(value)


class TensorBoardWriter:
    """Follows the loop like the progress bar does, writing into the run folder."""

    def __init__(self, out_dir: Path, cfg: Config) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.out_dir, self.cfg = out_dir, cfg
        self.writer = SummaryWriter(log_dir=str(out_dir))

    def start_epoch(self, epoch: int, num_batches: int) -> None:
        pass

    def batch_done(self, running_loss: float | None) -> None:
        pass

    def end_epoch(self, record: EpochRecord) -> None:
        for key, value in record.to_dict().items():
            if key not in NOT_SCALARS:
                self.writer.add_scalar(key, value, record.epoch)
        self.writer.flush()

    def settings(self) -> dict[str, Any]:
        """The run's overrides (as Hydra saved them), or its seed and regularizers."""
        saved = read_overrides(self.out_dir)
        if saved is not None:
            settings = as_settings(saved)
        else:
            settings = {f"reg.{k}": v for k, v in active(self.cfg.reg).items()}
        return {"seed": self.cfg.seed, **{k: _hparam(v) for k, v in settings.items()}}

    def end_run(self, summary: RunSummary) -> None:
        metrics = {f"summary/{k}": getattr(summary, k) for k in shown_in(HPARAMS)}
        for key, value in (summary.test or {}).items():
            metrics[f"summary/test_{key}"] = value
        metrics = {k: v for k, v in metrics.items() if v is not None and math.isfinite(v)}
        self.writer.add_hparams(self.settings(), metrics, run_name=".")
        self.writer.close()
