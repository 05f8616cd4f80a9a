"""One run from its first (or resumed) epoch to its end, and what it leaves behind.

A run can stop four ways besides completing: early stopping, divergence (a non-finite loss,
or one above a bound), a signal (SIGINT/SIGTERM: the current batch finishes, then the run
saves and stops), or an error. Once the run is built, summary.json is written however it
ends, with the test split scored at the best checkpoint where the run finished; the curves'
plot goes beside it when at least one epoch finished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from lstm_overfit.checkpoints import load_checkpoint, restore
from lstm_overfit.config import Config, Logger
from lstm_overfit.records import FINISHED, RunSummary, atomic_write_json, curve_summary
from lstm_overfit.runtime import versions
from lstm_overfit.stopping import Diverged, Interrupted, stop_on_signals
from lstm_overfit.tasks import ForecastTask
from lstm_overfit.train import Observer, TrainingRun

log = logging.getLogger(__name__)


def fit(
    cfg: Config, out_dir: Path, observers: Sequence[Observer] = (), resume: bool = False
) -> RunSummary:
    """Train one run into `out_dir` (continuing it with `resume`); return the summary.

    summary.json is written however the run ends. Divergence ends the run with status
    `diverged`; a signal raises Interrupted and an error re-raises, both after the summary.
    """
    observers = list(observers)
    if cfg.logger == Logger.tensorboard:
        from lstm_overfit.tensorboard import TensorBoardWriter

        observers.append(TensorBoardWriter(out_dir, cfg))
    run = TrainingRun(cfg, out_dir, observers)
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    if resume:
        restore(run)
    status, test, error = "completed", None, None
    try:
        with stop_on_signals(run):
            if _stopped_early(run):
                status = "stopped_early"
            else:
                for epoch in range(run.first_epoch, cfg.train.epochs + 1):
                    run.run_epoch(epoch)
                    if _stopped_early(run):
                        status = "stopped_early"
                        break
    except Diverged as err:
        status, error = "diverged", str(err)
        log.error("%s; stopping (the best checkpoint so far is kept)", err)
    except Interrupted:
        status = "interrupted"
        raise
    except BaseException as err:
        status, error = "failed", f"{type(err).__name__}: {err}"
        raise
    finally:
        if status in FINISHED:
            test = _test_at_best(run)
        summary = _summary(run, status, test, error)
        atomic_write_json(out_dir / "summary.json", summary.to_dict())
        if run.records:
            from lstm_overfit.plots import plot_curves

            plot_curves(run.records, summary, cfg, out_dir / "curves.png")
        for observer in run.observers:
            observer.end_run(summary)
    return summary


def _stopped_early(run: TrainingRun) -> bool:
    if run.stopper.should_stop:
        log.info(
            "early stopping after epoch %d: no better validation loss for %d epochs",
            run.records[-1].epoch if run.records else 0,
            run.stopper.patience,
        )
    return run.stopper.should_stop


def _test_at_best(run: TrainingRun) -> dict[str, float] | None:
    """The test split's metrics with the best checkpoint's weights (None without one)."""
    best = run.checkpoints / "best.pt"
    if not best.exists():
        return None
    run.model.load_state_dict(load_checkpoint(best, run.device)["model"])
    with run.autocast:
        return run.task.evaluate(run.model, run.data.test)


def _summary(run: TrainingRun, status: str, test: dict | None, error: str | None) -> RunSummary:
    cfg = run.cfg
    curves = curve_summary(
        run.records, run.stopper.best_epoch, cfg.train.onset_patience, cfg.train.onset_min_rise
    )
    last = run.records[-1].task_metrics if run.records else {}
    bayes = run.data.bayes_loss or {}
    forecasting = isinstance(run.task, ForecastTask)
    return RunSummary(
        **asdict(curves),
        status=status,
        bayes_val_loss=bayes.get("val"),
        bayes_test_loss=bayes.get("test"),
        final_train_acc_clean=last.get("train_acc_clean"),
        final_train_acc_flipped=last.get("train_acc_flipped"),
        naive_forecast=run.task.naive_forecast() if forecasting else None,
        pretrained_coverage=run.pretrained_coverage,
        test=test,
        reg=cfg.reg.active(),
        seed=cfg.seed,
        num_threads=run.num_threads,
        device=str(run.device),
        error=error,
        wall_seconds=run.earlier_seconds + time.perf_counter() - run.started,
        versions=versions(),
    )
