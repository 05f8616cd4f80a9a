from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from lstm_overfit.config import Config, SyntheticData

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "conf"
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--threads",
        type=int,
        default=1,
        help="torch threads for in-process runs (the statistical claims hold at 1 and 2)",
    )


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(config.getoption("--threads"))


def tiny_config(**train: object) -> Config:
    """A run that takes well under a second: 64 short sequences, one small layer."""
    cfg = Config(dataset=SyntheticData(num_train=64, num_val=64, num_test=64, seq_len=8))
    cfg.dataset.vocab_size = 16
    cfg.model.embedding_size, cfg.model.hidden_size, cfg.model.num_layers = 8, 16, 1
    cfg.train.epochs, cfg.train.batch_size = 3, 16
    cfg.train.progress = False
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_main(*args: str, cwd: Path) -> CliResult:
    """`lstm-overfit ARGS` in this process, as the console script runs it: output captured,
    the exit status from SystemExit."""
    from lstm_overfit import cli

    out, err = io.StringIO(), io.StringIO()
    here, argv = Path.cwd(), sys.argv[:]
    os.chdir(cwd)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main(list(args))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.chdir(here)
        sys.argv = argv
    return CliResult(code, out.getvalue(), err.getvalue())


def catalogue_rows() -> dict[str, str]:
    """docs/reliability.md's catalogue of refused input: each row's case -> its message
    (backquotes dropped)."""
    doc = (REPO / "docs" / "reliability.md").read_text()
    rows = {}
    for line in doc[doc.index("## Bad input") :].splitlines():
        cells = [c.strip().replace("`", "") for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 2:
            rows[cells[0]] = cells[1]
    return rows


def count_row_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every way a `datasets` split hands out its rows, counted (hashing rows needs one)."""
    import datasets

    reads: list[str] = []
    for method in ("__iter__", "__getitem__", "iter"):
        real = getattr(datasets.Dataset, method)

        def spy(self, *args, _real=real, _method=method, **kwargs):
            reads.append(_method)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(datasets.Dataset, method, spy)
    return reads


def assert_refused(args: list[str], expected: str, root: Path) -> None:
    """`lstm-overfit train ARGS` from a folder of `root`: one line naming the problem, exit
    status 2, no traceback, and nothing written under `root` (data caches aside)."""
    (root / "work").mkdir()
    before = sorted(p for p in root.rglob("*") if "cache" not in p.parts)
    result = run_main("train", *args, cwd=root / "work")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstm-overfit: error: "), result.stderr
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert sorted(p for p in root.rglob("*") if "cache" not in p.parts) == before


def run_cli(*args: str, cwd: Path, threads: int = 1, env: dict | None = None):
    """The console script in a subprocess, as a user runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HYDRA_FULL_ERROR": "0", **(env or {})}
    exe = Path(sys.executable).with_name("lstm-overfit")
    return subprocess.run(
        [str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def run_folders(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("outputs/**/summary.json"))


@pytest.fixture
def cfg() -> Config:
    return tiny_config()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets beside the repository. Skipped where absent, except under CI."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the shared data sets at {SHARED_DATA}")
        pytest.skip(f"no shared data sets at {SHARED_DATA}")
    return SHARED_DATA
