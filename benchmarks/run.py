"""Every performance figure of lstm-overfit, measured side by side in one run.

Runs the sections below (each spawns the console script or the bare loop as child
processes), prints one table (configuration, figure, ours, reference, ratio, target) and
writes it, with the machine, as JSON. BENCHMARKS.md holds the latest table.

    python benchmarks/run.py [--data ../shared/data] [--out benchmarks/results.json]
                             [--only fused throughput allocator padding sweep startup] [--quick]

--quick shrinks every measurement (seconds instead of about 65 minutes); its numbers are
for checking the script, not for the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import measure

SECTIONS = ("fused", "throughput", "allocator", "padding", "sweep", "startup")


def throughput_configs(data: Path, quick: bool) -> list[tuple[str, list[str], int, int, int, int]]:
    """(name, overrides, runner epochs, bare-loop epochs, rounds, pairs) for the three setups the
    target names. The first epoch of each run is left out (warm-up), so the runner's long
    epochs give two full cycles and each bare-loop run one. The default run's epochs last
    about half a second, where another tenant of the machine can slow one process by half
    for seconds: it runs 6 epochs a side, eight times in turn with the bare loop. Pairs:
    epochs of both, alternating in one process (`paired.py`), the closest comparison, since
    both sides of a pair sample the same stretch of the machine (PTB's three pairs of
    three-minute epochs add about 20 minutes)."""
    if quick:
        return [("default (synthetic, tiny)", ["dataset.num_train=500"], 3, 3, 2, 3)]
    imdb = [
        "+experiment=tutorial_imdb",
        f"dataset.path={data / 'imdb'}",
        "dataset.num_train=2000",
        "dataset.num_val=500",
        "dataset.num_test=500",
    ]
    return [
        ("default (synthetic, tiny)", [], 6, 6, 8, 30),
        (
            "ptb, model=small",
            ["dataset=ptb", f"dataset.path={data / 'ptb'}", "model=small"],
            3,
            2,
            1,
            3,
        ),
        ("imdb tutorial model, 2,000 reviews", imdb, 3, 2, 1, 3),
    ]


def machine() -> dict[str, object]:
    import torch

    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # Three significant digits, trailing zeros kept: a ratio of 1.00 reads as measured.
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:#.3g}"
    return str(value)


def table(rows: list[dict]) -> str:
    lines = [
        "| configuration | figure | ours | reference | ratio | target |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        cells = [r["configuration"], r["figure"], r["ours"], r["reference"], r["ratio"]]
        lines.append("| " + " | ".join(_fmt(c) for c in cells) + f" | {r['target']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results.json"))
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu or cuda, for the throughput runs")
    args = parser.parse_args()
    data = args.data.resolve()
    rows: list[dict] = []
    for section in args.only:
        started = time.perf_counter()
        if section == "fused":
            rows += measure.fused_kernel(repeats=5 if args.quick else 20)
        elif section == "throughput":
            for name, overrides, epochs, bare, rounds, pairs in throughput_configs(
                data, args.quick
            ):
                name, overrides = f"{name}, {args.device}", [*overrides, f"device={args.device}"]
                rows += measure.throughput(name, overrides, epochs, bare, rounds)
                if pairs:
                    rows += measure.paired(name, overrides, pairs)
        elif section == "allocator":
            rows += measure.allocator([f"device={args.device}"], rounds=1 if args.quick else 4)
        elif section == "padding":
            rows += measure.imdb_padding(data / "imdb")
        elif section == "sweep":
            rows += measure.sweep(epochs=2 if args.quick else None)
        elif section == "startup":
            rows += measure.startup(repeats=1 if args.quick else 5)
        print(f"{section}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"command": " ".join(sys.argv), "machine": machine(), "rows": rows}
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
