"""Every figure of BENCHMARKS.md, measured in one run.

    python benchmarks/run.py [--data ../shared/data] [--out benchmarks/results.json]
                             [--only presets overhead sweep regularizers constructs] [--quick]
                             [--device cpu|cuda]

Prints one table (configuration, figure, value, target) and writes it into the results
file, with the machine each section ran on: the sections measured replace their rows there,
the others keep theirs. --quick shrinks every measurement to seconds: its numbers check the
script, not the machine, and are written only to a file --out names. Run it alone on the
machine: another busy process makes every figure noise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import constructs
import paired
import presets
import regularizers
import sweep

RESULTS = Path(__file__).with_name("results.json")
SECTIONS = ("presets", "overhead", "sweep", "regularizers", "constructs")
TARGETS = {"training pass alone": ">= 0.95", "whole epochs": ">= 0.95"}


def overhead_setups(data: Path, quick: bool) -> list[tuple[str, list[str], dict[str, str]]]:
    """The three setups the targets name: (name, overrides, targets)."""
    if quick:
        return [("default run (synthetic, model=tiny)", ["dataset.num_train=300"], TARGETS)]
    imdb = [
        "+experiment=tutorial_imdb",
        f"dataset.path={data / 'imdb'}",
        "dataset.num_train=128",
        "dataset.num_val=55",
        "dataset.num_test=55",
    ]
    ptb = ["dataset=ptb", f"dataset.path={data / 'ptb'}", "model=small", "train.batch_size=20"]
    return [
        ("default run (synthetic, model=tiny)", [], TARGETS),
        (
            "ptb, model=small, a 10k-token slice",
            [*ptb, "dataset.num_train=10000", "dataset.num_val=800"],
            TARGETS,
        ),
        ("tutorial_imdb, 128 reviews", imdb, TARGETS),
    ]


def machine() -> dict[str, object]:
    import torch

    names = []
    if Path("/proc/cpuinfo").exists():
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
    return {
        "cpu": names[0] if names else platform.processor(),
        "vector_unit": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def measure(section: str, data: Path, quick: bool, device: str) -> list[dict]:
    if section == "presets":
        return presets.rows(data) if not quick else []
    if section == "overhead":
        pairs = 3 if quick else 20
        return [
            row
            for name, overrides, targets in overhead_setups(data, quick)
            for row in paired.rows(
                f"{name}, {device}", [*overrides, f"device={device}"], pairs, targets
            )
        ]
    if section == "sweep":
        return sweep.rows(
            ["train.epochs=2", "dataset.num_train=300"] if quick else ["train.epochs=15"]
        )
    if section == "regularizers":
        return regularizers.rows(data, 2000 if quick else 10000, 1 if quick else 3)
    return constructs.rows(data, 2 if quick else 8)


def meets(value: float, target: str) -> str:
    if not target.startswith((">=", "<=")):
        return ""
    bound = float(target.split()[1])
    ok = value >= bound if target.startswith(">=") else value <= bound
    return "yes" if ok else "no"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument(
        "--out", type=Path, help="the results file (default: results.json; --quick: none)"
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="for overhead")
    args = parser.parse_args()
    rows = []
    for section in args.only:
        started = time.perf_counter()
        for row in measure(section, args.data.resolve(), args.quick, args.device):
            row["section"], row["met"] = section, meets(row["value"], row["target"])
            rows.append(row)
            print(
                f"{row['configuration']} | {row['figure']} | {row['value']:.3g} | "
                f"{row['target']} {row['met']}",
                flush=True,
            )
        print(f"[{section}: {time.perf_counter() - started:.0f} s]", flush=True)
    if args.quick:  # figures that check the script: never merged into the page's record
        if args.out:
            args.out.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
        return
    out = args.out or RESULTS
    out.write_text(json.dumps(merged(out, args.only, rows), indent=2) + "\n")


def merged(out: Path, measured: list[str], rows: list[dict]) -> dict:
    """The results file with the measured sections' rows and machine replaced, every other
    section's kept as it was (a run of some sections leaves the rest of the page's record)."""
    results = json.loads(out.read_text()) if out.exists() else {}
    kept = [row for row in results.get("rows", []) if row["section"] not in measured]
    order = {section: i for i, section in enumerate(SECTIONS)}
    results["rows"] = sorted(kept + rows, key=lambda row: order[row["section"]])
    results["machines"] = {**results.get("machines", {}), **dict.fromkeys(measured, machine())}
    return results


if __name__ == "__main__":
    main()
