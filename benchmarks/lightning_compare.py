"""Whole-process wall time of the default run: `lstm-overfit train` against the same run
written with PyTorch Lightning (lightning_default.py).

Alternates the two processes (ABBA order), each started cold in its own interpreter into a
fresh folder, timed from start to exit; prints each pair's seconds and the median of the
per-pair ratios (ours over Lightning's), and writes them with the machine to JSON.

    python benchmarks/lightning_compare.py [--pairs 5] [--epochs 40]
        [--lightning-python PYTHON] [--out benchmarks/lightning_results.json]

--lightning-python is an interpreter with `lightning` and this project installed (default:
this one). Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import machine

HERE = Path(__file__).resolve().parent


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--lightning-python", default=sys.executable)
    parser.add_argument("--out", type=Path, default=HERE / "lightning_results.json")
    args = parser.parse_args()
    ours_exe = str(Path(sys.executable).with_name("lstm-overfit"))
    pairs = []
    for i in range(args.pairs):
        seconds = {}
        for side in ("ours", "lightning") if i % 2 == 0 else ("lightning", "ours"):
            with tempfile.TemporaryDirectory() as tmp:
                if side == "ours":
                    command = [ours_exe, "train", f"train.epochs={args.epochs}"]
                    command.append(f"hydra.run.dir={tmp}/run")
                else:
                    script = str(HERE / "lightning_default.py")
                    command = [args.lightning_python, script, "--out", tmp]
                    command += ["--epochs", str(args.epochs)]
                seconds[side] = timed(command)
        pairs.append(seconds)
        print(f"pair {i + 1}: ours {seconds['ours']:.1f} s, Lightning {seconds['lightning']:.1f} s")
    ratio = statistics.median(p["ours"] / p["lightning"] for p in pairs)
    ours = statistics.median(p["ours"] for p in pairs)
    lightning = statistics.median(p["lightning"] for p in pairs)
    print(f"median: ours {ours:.1f} s, Lightning {lightning:.1f} s; ours / Lightning {ratio:.2f}")
    version = [args.lightning_python, "-c", "import lightning; print(lightning.__version__)"]
    result = {
        "machine": machine(),
        "lightning": subprocess.run(version, capture_output=True, text=True).stdout.strip(),
        "epochs": args.epochs,
        "pairs": pairs,
        "median_ratio": ratio,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
