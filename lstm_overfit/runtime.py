"""Where a run computes: the device, the precision, the thread count."""

from __future__ import annotations

import os
import platform
import time
from contextlib import AbstractContextManager, nullcontext

import torch

import lstm_overfit
from lstm_overfit.config import Device, Precision, UsageError


def resolve_device(device: Device) -> torch.device:
    if device == Device.auto:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == Device.cuda and not torch.cuda.is_available():
        raise UsageError("device=cuda but no CUDA device is available; use device=auto or cpu")
    return torch.device(device.value)


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (AVX-512 BF16 or AMX), which oneDNN's
    LSTM kernel needs to run bf16."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def autocast_for(precision: Precision, device: torch.device) -> AbstractContextManager:
    """The context the forward passes run in: bf16 autocast, or nothing.

    bf16 runs on CUDA, and on CPUs with native bf16; elsewhere oneDNN's LSTM kernel fails
    under bf16 autocast and the fallback is many times slower than float32.
    """
    if precision == Precision.fp32:
        return nullcontext()
    if device.type == "cpu" and not cpu_has_bf16():
        raise UsageError(
            "train.precision=bf16 needs a CUDA device or a CPU with native bf16 (AVX-512 BF16 "
            "or AMX), and this CPU has neither: use train.precision=fp32"
        )
    return torch.autocast(device.type, dtype=torch.bfloat16)


# How long the cores' idle time is sampled before a run picks its thread count.
BUSY_SAMPLE_SECONDS = 0.25


def busy_cores(seconds: float = BUSY_SAMPLE_SECONDS) -> float | None:
    """How many cores other processes keep busy, from the machine's idle time over a short
    sample (this process sleeps meanwhile); None where the system does not say (not Linux)."""

    def idle_and_total() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            ticks = [int(t) for t in stat.readline().split()[1:9]]
        return ticks[3] + ticks[4], sum(ticks)  # idle and iowait; user to steal

    try:
        idle_before, total_before = idle_and_total()
        time.sleep(seconds)
        idle_after, total_after = idle_and_total()
    except (OSError, ValueError, IndexError):
        return None
    total = total_after - total_before
    if total <= 0:
        return None
    return (1 - (idle_after - idle_before) / total) * (os.cpu_count() or 1)


def choose_threads(requested: int) -> tuple[int, str]:
    """The run's torch threads and why: `requested` when it is set; otherwise torch's own
    count (the cores, or OMP_NUM_THREADS), less the cores other processes keep busy.

    Intra-op threads split each operation evenly; when another process holds one of their
    cores, every operation waits for the thread that core serves, and a run slows several
    times over (BENCHMARKS.md, "Threads on a busy machine").
    """
    if requested > 0:
        torch.set_num_threads(requested)
        return requested, "train.num_threads"
    default = torch.get_num_threads()
    if default == 1 or (busy := busy_cores()) is None:
        return default, "torch's default"
    cores = os.cpu_count() or 1
    free = max(1, min(default, round(cores - busy)))
    if free == default:
        return default, "torch's default, its cores idle"
    torch.set_num_threads(free)
    return free, f"{cores - free} of {cores} cores busy with other processes at the start"


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lstm_overfit": lstm_overfit.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
