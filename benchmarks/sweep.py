"""A 4-job sweep with the joblib launcher against the same four runs one after another.

The four runs are the default run with seeds 0-3: one after another, each as its own
`lstm-overfit train seed=N` at the default thread count (every core), the way a user without
a launcher runs them; side by side, one `lstm-overfit train -m hydra/launcher=local_parallel`
(a torch thread per job, as many jobs at once as cores). Run in the order serial, joblib,
joblib, serial and averaged per side, so a speed drift that is linear over the four cancels.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEEDS = (0, 1, 2, 3)


def console_script() -> list[str]:
    found = shutil.which("lstm-overfit")
    return [found] if found else [sys.executable, "-m", "lstm_overfit"]


def _seconds(commands: list[list[str]], cwd: Path) -> float:
    start = time.perf_counter()
    for command in commands:
        subprocess.run(command, check=True, capture_output=True, cwd=cwd)
    return time.perf_counter() - start


def rows(extra: list[str]) -> list[dict]:
    script = [*console_script(), "train", "train.progress=false", *extra]
    seconds: dict[str, list[float]] = {"serial": [], "joblib": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("serial", "joblib", "joblib", "serial"):
            if name == "serial":
                commands = [[*script, f"seed={seed}"] for seed in SEEDS]
            else:
                seeds = ",".join(map(str, SEEDS))
                commands = [[*script, "-m", "hydra/launcher=local_parallel", f"seed={seeds}"]]
            seconds[name].append(_seconds(commands, Path(tmp)))
    joblib, serial = statistics.mean(seconds["joblib"]), statistics.mean(seconds["serial"])
    return [
        {
            "configuration": " ".join([f"{len(SEEDS)} default runs", *extra]),
            "figure": f"wall seconds, joblib sweep {joblib:.0f} against one after another "
            f"{serial:.0f} (mean of 2 each)",
            "value": joblib / serial,
            "target": "<= 0.70",
        }
    ]
