from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lstm_overfit.config import Config

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "conf"

torch.set_num_threads(1)


def tiny_config(**train: object) -> Config:
    """A run that takes well under a second: 64 short sequences, one small layer."""
    cfg = Config()
    cfg.dataset.num_train, cfg.dataset.num_val, cfg.dataset.num_test = 64, 64, 64
    cfg.dataset.seq_len, cfg.dataset.vocab_size = 8, 16
    cfg.model.embedding_size, cfg.model.hidden_size, cfg.model.num_layers = 8, 16, 1
    cfg.train.epochs, cfg.train.batch_size = 3, 16
    cfg.train.progress = False
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


def run_cli(*args: str, cwd: Path, threads: int = 1) -> subprocess.CompletedProcess:
    """The console script in a subprocess, as a user runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HYDRA_FULL_ERROR": "0"}
    exe = Path(sys.executable).with_name("lstm-overfit")
    return subprocess.run(
        [str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def cfg() -> Config:
    return tiny_config()


SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets beside the repository. Skipped where absent, except under CI."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the shared data sets at {SHARED_DATA}")
        pytest.skip(f"no shared data sets at {SHARED_DATA}")
    return SHARED_DATA
