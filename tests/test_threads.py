"""How a run picks its torch threads: torch's count less the cores other processes keep
busy when it starts, the count kept when it resumes, an explicit train.num_threads always."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import tiny_config

from lstm_overfit import build, runtime
from lstm_overfit.fit import fit


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A machine of two cores whose torch would use both; the counts set are recorded."""
    threads, calls = [2], []

    def set_threads(n: int) -> None:
        calls.append(n)
        threads[0] = n

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads[0])
    monkeypatch.setattr(torch, "set_num_threads", set_threads)
    return calls


def test_a_busy_core_leaves_one_thread(two_cores, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "busy_cores", lambda: 0.97)
    assert runtime.choose_threads(0) == (1, "1 of 2 cores busy with other processes at the start")
    assert two_cores == [1]


def test_idle_cores_keep_torchs_count(two_cores, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "busy_cores", lambda: 0.2)
    assert runtime.choose_threads(0) == (2, "torch's default, its cores idle")
    assert two_cores == []


def test_an_explicit_count_is_used_as_given(two_cores, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "busy_cores", lambda: pytest.fail("sampled needlessly"))
    assert runtime.choose_threads(2) == (2, "train.num_threads")


def test_one_thread_or_no_load_figure_leaves_torchs_count(two_cores, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "busy_cores", lambda: None)
    assert runtime.choose_threads(0) == (2, "torch's default")
    torch.set_num_threads(1)
    monkeypatch.setattr(runtime, "busy_cores", lambda: pytest.fail("sampled needlessly"))
    assert runtime.choose_threads(0) == (1, "torch's default")


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="Linux's /proc/stat")
def test_busy_cores_is_a_share_of_the_machine() -> None:
    busy = runtime.busy_cores(0.05)
    assert busy is not None and 0 <= busy <= os.cpu_count()


def test_a_resumed_run_keeps_the_count_it_chose(tmp_path, monkeypatch) -> None:
    """Float sums depend on the thread count: a run that chose one thread on a busy machine
    continues with one, however idle the machine is when it resumes."""
    from lstm_overfit.checkpoints import load_checkpoint

    cfg = tiny_config(epochs=2)
    monkeypatch.setattr(build, "choose_threads", lambda requested: (1, "busy"))
    first = fit(cfg, tmp_path)
    assert first.num_threads == 1 and first.threads_reason == "busy"
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["num_threads"] == 1
    (tmp_path / "summary.json").unlink()  # as if killed before the end
    cfg.train.epochs = 3
    monkeypatch.setattr(build, "choose_threads", lambda requested: (2, "idle"))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    resumed = fit(cfg, tmp_path, resume=True)
    assert resumed.num_threads == 1
    assert resumed.threads_reason == "the count the run chose when it started"
