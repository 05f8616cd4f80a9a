"""Hydra callbacks: at the end of every sweep, the sweep report and the list of failures."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from lstm_overfit.output_folders import register_job_dir
from lstm_overfit.run_folder import FAILED

log = logging.getLogger(__name__)

# Hydra loads this module in every process that runs jobs (the callbacks travel with them),
# before it names a job's folder: a resumed sweep's folder names need `${job_dir:...}` there.
register_job_dir()

# Jobs of the last sweep that failed or diverged: the CLI's exit status reads it.
failed_jobs: list[tuple[Path, str]] = []


class SweepReport(Callback):
    """Writes summary.csv, report.md and the plots into the sweep folder."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        from lstm_overfit.report import build_report
        from lstm_overfit.report_files import write_report
        from lstm_overfit.runs import find_runs

        sweep_dir = Path(config.hydra.sweep.dir)
        runs = find_runs([sweep_dir]) if sweep_dir.is_dir() else []
        if not runs:
            return
        write_report(build_report(runs), sweep_dir)
        failed_jobs[:] = [(run.folder, run.status) for run in runs if run.status in FAILED]
        log.info("sweep report: %s", sweep_dir / "report.md")
