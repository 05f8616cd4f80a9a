"""One run from its first (or resumed) epoch to its end, and what it leaves behind.

A run can stop four ways besides completing: early stopping, divergence (a non-finite loss,
or one above a bound), a signal (SIGINT/SIGTERM: the current batch finishes, then the run
saves and stops), or an error. summary.json is written here, and only here, however the run
ends (a run that fails while being built, too), with the test split scored at the best
checkpoint where the run finished; the curves' plot goes beside it when at least one epoch
finished. From its start until that summary, the folder names the process that runs it
(liveness.py); the data it reads is recorded once, as it first starts (dataset_identity.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from lstm_overfit.checkpoints import load_checkpoint
from lstm_overfit.config import Config, Logger
from lstm_overfit.curves import curve_summary
from lstm_overfit.dataset_identity import record_identity
from lstm_overfit.liveness import clear_mark, mark_running
from lstm_overfit.regularizers.schema import active
from lstm_overfit.resume import restore
from lstm_overfit.run_folder import FINISHED, RunSummary
from lstm_overfit.runtime import versions
from lstm_overfit.stopping import Diverged, Interrupted, stop_on_signals
from lstm_overfit.storage import atomic_write_json
from lstm_overfit.train import Observer, TrainingRun
from lstm_overfit.validation import validate

log = logging.getLogger(__name__)


def fit(
    cfg: Config, out_dir: Path, observers: Sequence[Observer] = (), resume: bool = False
) -> RunSummary:
    """Train one run into `out_dir` (continuing it with `resume`); return the summary.

    The config is validated first: a mistake raises UsageError. summary.json is written
    however the run ends. Divergence ends the run with status `diverged`; a signal raises
    Interrupted and an error re-raises, both after the summary.
    """
    started = time.perf_counter()
    try:
        validate(cfg)
        _mark_start(cfg, out_dir)
        run = _build(cfg, out_dir, observers, resume)
    except BaseException as err:
        # A run folder that exists says how the run ended; a config mistake makes none.
        if out_dir.is_dir():
            status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
            summary = RunSummary(
                status=status,
                reg=active(cfg.reg),
                seed=cfg.seed,
                error=None if status == "interrupted" else f"{type(err).__name__}: {err}",
                wall_seconds=time.perf_counter() - started,
                versions=versions(),
            )
            atomic_write_json(out_dir / "summary.json", summary.to_dict())
            clear_mark(out_dir)
        raise
    return _train(run)


def _mark_start(cfg: Config, out_dir: Path) -> None:
    """The run's folder says, from its start, which process runs it (until its summary is
    written) and which data it reads."""
    out_dir.mkdir(parents=True, exist_ok=True)
    mark_running(out_dir)
    record_identity(cfg.dataset, out_dir)


def _build(cfg: Config, out_dir: Path, observers: Sequence[Observer], resume: bool) -> TrainingRun:
    observers = list(observers)
    if cfg.logger == Logger.tensorboard:
        from lstm_overfit.tensorboard import TensorBoardWriter

        observers.append(TensorBoardWriter(out_dir, cfg))
    run = TrainingRun(cfg, out_dir, observers)
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    if resume:
        restore(run)
    return run


def _train(run: TrainingRun) -> RunSummary:
    status, test, error = "completed", None, None
    try:
        with stop_on_signals(run):
            if _stopped_early(run):
                status = "stopped_early"
            else:
                for epoch in range(run.state.epoch + 1, run.cfg.train.epochs + 1):
                    run.run_epoch(epoch)
                    if _stopped_early(run):
                        status = "stopped_early"
                        break
    except Diverged as err:
        status, error = "diverged", str(err)
        log.error("%s; stopping (the best checkpoint so far is kept)", err)
    except (Interrupted, KeyboardInterrupt):
        status = "interrupted"
        raise
    except BaseException as err:
        status, error = "failed", f"{type(err).__name__}: {err}"
        raise
    finally:
        if status in FINISHED:
            test = _test_at_best(run)
        summary = _summary(run, status, test, error)
        atomic_write_json(run.out_dir / "summary.json", summary.to_dict())
        clear_mark(run.out_dir)
        if run.records:
            from lstm_overfit.plots import plot_curves

            plot_curves(run.records, summary, run.cfg, run.out_dir / "curves.png")
        for observer in run.observers:
            observer.end_run(summary)
    return summary


def _stopped_early(run: TrainingRun) -> bool:
    """Whether a regularizer stops the run here (early stopping); logs why."""
    stop = run.parts.regularizers.stop_reason(run.state.best)
    if stop is not None:
        name, why = stop
        epoch = run.records[-1].epoch if run.records else 0
        log.info("%s after epoch %d: %s", name.replace("_", " "), epoch, why)
    return stop is not None


def _test_at_best(run: TrainingRun) -> dict[str, float] | None:
    """The test split's metrics with the best checkpoint's weights (None without one)."""
    best = run.checkpoints / "best.pt"
    if not best.exists():
        return None
    parts, model = run.parts, run.state.model
    model.load_state_dict(load_checkpoint(best, parts.device)["model"])
    with parts.autocast:
        return parts.task.evaluate(model, parts.data.test)


def _summary(run: TrainingRun, status: str, test: dict | None, error: str | None) -> RunSummary:
    cfg, parts = run.cfg, run.parts
    curves = curve_summary(
        run.records,
        run.state.best.best_epoch,
        cfg.train.onset_patience,
        cfg.train.onset_min_rise,
    )
    bayes = parts.data.bayes_loss or {}
    return RunSummary(
        status=status,
        metric=parts.task.metric,
        metric_higher_is_better=parts.task.higher_is_better,
        loss_unit=parts.task.loss_unit,
        **curves,
        bayes_val_loss=bayes.get("val"),
        bayes_test_loss=bayes.get("test"),
        constant_loss=parts.task.constant_loss(),
        **parts.task.summary_extras(run.records),
        pretrained_coverage=parts.pretrained_coverage,
        test=test,
        reg=active(cfg.reg),
        seed=cfg.seed,
        num_threads=parts.num_threads,
        threads_reason=parts.threads_reason,
        device=str(parts.device),
        error=error,
        wall_seconds=run.state.wall_seconds(),
        versions=versions(),
    )
