"""Where a run computes: the device, the precision, the thread count."""

from __future__ import annotations

import platform
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


def set_threads(num_threads: int) -> int:
    """Use `num_threads` torch threads (0: torch's default, every core); return the count."""
    if num_threads > 0:
        torch.set_num_threads(num_threads)
    return torch.get_num_threads()


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lstm_overfit": lstm_overfit.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
