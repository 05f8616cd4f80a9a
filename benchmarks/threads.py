"""Thread policies timed as whole processes, alone and beside one busy process.

Each setup runs as `lstm-overfit train ...` under each policy (an environment and extra
overrides), in pairs that alternate the policies, first on an idle machine, then beside one
process that spins a core (`python -c "while True: pass"`), as a shared laptop, lab server
or CI runner has. Prints the median wall seconds of each policy and condition, and the
ratio busy/alone, and appends them to results.json under "threads".

    python benchmarks/threads.py --data ../shared/data --pairs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXE = Path(sys.executable).with_name("lstm-overfit")


def setups(data: Path) -> dict[str, list[str]]:
    return {
        "default run, 10 epochs": ["train.epochs=10"],
        "ptb slice, model=small, 1 epoch": [
            "dataset=ptb",
            f"dataset.path={data / 'ptb'}",
            "dataset.num_train=60000",
            "dataset.num_val=20000",
            "dataset.num_test=2000",
            "model=small",
            "train.epochs=1",
        ],
    }


# name -> (environment, overrides). Unset variables take the runner's own default.
POLICIES: dict[str, tuple[dict[str, str], list[str]]] = {
    "2 threads (every core: the default before)": ({}, ["train.num_threads=2"]),
    "1 thread": ({}, ["train.num_threads=1"]),
    "the runner's choice": ({}, []),
}


def wall_seconds(overrides: list[str], env: dict[str, str], folder: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [str(EXE), "train", *overrides, "train.progress=false", f"hydra.run.dir={folder}"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def measure(data: Path, pairs: int) -> dict:
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for busy in (False, True):
            spinner = None
            if busy:
                spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                for setup, overrides in setups(data).items():
                    times: dict[str, list[float]] = {name: [] for name in POLICIES}
                    for _ in range(pairs):
                        for name, (env, extra) in POLICIES.items():
                            folder = Path(tmp) / f"{len(os.listdir(tmp))}"
                            times[name].append(wall_seconds([*overrides, *extra], env, folder))
                    for name, values in times.items():
                        key = f"{setup} | {name}"
                        results.setdefault(key, {})["busy" if busy else "alone"] = values
            finally:
                if spinner is not None:
                    spinner.kill()
    for key, by in results.items():
        alone, busy = statistics.median(by["alone"]), statistics.median(by["busy"])
        by["ratio"] = busy / alone
        print(f"{key:70s} alone {alone:6.1f} s  busy {busy:6.1f} s  busy/alone {busy / alone:.2f}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    results = measure(args.data, args.pairs)
    path = HERE / "results.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved["threads"] = {"cpu": os.cpu_count(), "pairs": args.pairs, "results": results}
    path.write_text(json.dumps(saved, indent=2) + "\n")


if __name__ == "__main__":
    main()
