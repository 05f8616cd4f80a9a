"""The launchers tier (`pytest -m launchers`): Hydra's own launchers and sweepers through
the console script (submitit's local executor, Ray on loopback, an Optuna study), and the
wheel."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, run_cli, run_folders

pytestmark = pytest.mark.launchers

RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def sweep_statuses(root: Path) -> list[str]:
    [sweep] = root.glob("outputs/sweeps/*/*")
    rows = csv.DictReader(io.StringIO((sweep / "summary.csv").read_text()))
    return sorted(row["status"] for row in rows)


def test_submitit_local_executor(tmp_path: Path) -> None:
    result = run_cli(
        "train",
        "-m",
        "hydra/launcher=submitit_local",
        "+experiment=smoke",
        "seed=0,1",
        cwd=tmp_path,
    )
    [sweep] = tmp_path.glob("outputs/sweeps/*/*")
    logs = "".join(p.read_text() for p in sweep.glob(".submitit/*/*_log.*"))
    assert result.returncode == 0, result.stderr + logs
    assert "epoch 2/2" in logs  # job output lands in .submitit, not on the console
    assert sweep_statuses(tmp_path) == ["completed", "completed"]


def test_optuna_study_searches_a_strength(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    for _ in range(2):  # the second command continues the stored study
        result = run_cli(
            "train",
            "-m",
            "+sweep=optuna_strength",
            "hydra.sweeper.n_trials=3",
            f"hydra.sweeper.storage={storage}",
            "+experiment=smoke",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
    import optuna

    study = optuna.load_study(study_name="reg_strength", storage=storage)
    assert len(study.trials) == 6 and all(t.state.name == "COMPLETE" for t in study.trials)
    strengths = [t.params["reg.l2"] for t in study.trials]
    assert all(1e-6 <= s <= 1e-1 for s in strengths) and len(set(strengths)) >= 3
    sweeps = sorted(tmp_path.glob("outputs/sweeps/*/*"))
    results = (sweeps[-1] / "optimization_results.yaml").read_text()
    assert "best_params" in results and "reg.l2" in results
    summaries = [json.loads(p.read_text()) for p in sweeps[0].glob("*/summary.json")]
    best = min(s["best_val_loss"] for s in summaries)
    assert any(abs(t.value - best) < 1e-12 for t in study.trials[:3])  # the task's return


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pids() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


@pytest.fixture
def loopback_ray() -> Iterator[str]:
    """A one-node Ray cluster on 127.0.0.1 only, torn down with everything it started."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    if ray is None:
        pytest.skip("Ray is not installed")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit
    port = _free_port()
    before = _pids()
    env = {**os.environ, **RAY_ENV}
    subprocess.run(
        [
            ray,
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--include-dashboard=false",
            "--num-cpus=2",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    started = _pids() - before
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)
        for pid in _pids() & started:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
        shutil.rmtree(temp, ignore_errors=True)


def _listening(pids: set[int]) -> list[str]:
    """Local addresses on which these processes listen (from ss)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            found.append(line.split()[3])
    return found


def test_ray_launcher_on_loopback(tmp_path: Path, loopback_ray: str) -> None:
    if shutil.which("ss") is None:
        pytest.skip("ss is needed to check where Ray listens")
    ray_pids = {pid for pid in _pids() if "ray" in _cmdline(pid)}
    addresses = _listening(ray_pids)
    assert addresses and all(a.startswith(("127.0.0.1:", "[::ffff:127.0.0.1]:")) for a in addresses)
    env_args = [f"{k}={v}" for k, v in RAY_ENV.items()]
    result = subprocess.run(
        [
            "env",
            *env_args,
            str(Path(sys.executable).with_name("lstm-overfit")),
            "train",
            "-m",
            "hydra/launcher=ray_cluster",
            f"hydra.launcher.ray.init.address={loopback_ray}",
            "+experiment=smoke",
            "seed=0,1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sweep_statuses(tmp_path) == ["completed", "completed"]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_wheel_install_finds_the_packaged_configs(tmp_path: Path) -> None:
    """A non-editable install has no source checkout: conf/ and the regularizers must ship
    inside the package, and a plug-in in the user's own file is found."""
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = (tmp_path / "dist").glob("*.whl")
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    assert (target / "lstm_overfit" / "conf" / "reg" / "awd.yaml").is_file()
    assert (target / "lstm_overfit" / "regularizers" / "l2.py").is_file()
    # A regularizer of the user's own, outside the installed package, stacked on a built-in.
    plugin = {"LSTM_OVERFIT_PLUGINS": str(REPO / "examples" / "input_noise.py")}
    run = subprocess.run(
        [sys.executable, "-m", "lstm_overfit", "train", "+experiment=smoke"]
        + ["+reg=[l2,input_noise]"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", **plugin},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    [folder] = run_folders(tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["reg"] == {"l2": 1e-3, "input_noise": 0.3}
