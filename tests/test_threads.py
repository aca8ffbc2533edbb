"""The thread policy: free cores, never oversubscribed; --threads and ENRESNET_THREADS win; set per command."""

import os

import pytest
import torch

import enresnet.threads as threads
from enresnet.cli import main
from enresnet.errors import ConfigError
from enresnet.threads import free_threads, requested_threads, thread_count

from helpers import tiny_config, write_config


@pytest.mark.parametrize("cores, busy, expected", [
    (2, 0.0, 2), (2, 0.5, 2),  # idle, or at most half a core used by others: every core
    (2, 0.6, 1), (2, 1.0, 1),  # one busy process (the quickstart's 40 minutes): one thread
    (2, 1.9, 1), (2, 7.0, 1),  # never fewer than one
    (16, 3.2, 13), (1, 0.0, 1),
])
def test_free_threads(cores, busy, expected):
    assert free_threads(cores, busy) == expected


def test_free_threads_never_oversubscribes_and_falls_with_load():
    for cores in range(1, 33):
        counts = [free_threads(cores, busy / 10) for busy in range(0, 400)]
        assert all(1 <= n <= cores for n in counts) and counts == sorted(counts, reverse=True)
        assert all(n + busy / 10 <= cores + 0.5 for n, busy in zip(counts, range(0, 400)) if n > 1)


def test_requested_threads():
    assert requested_threads(3, {threads.ENV: "5"}) == 3  # --threads first
    assert requested_threads(None, {threads.ENV: " 5 "}) == 5
    assert requested_threads(None, {threads.ENV: ""}) is None and requested_threads(None, {}) is None
    for bad in ("0", "-1", "two", "1.5", "100000"):
        with pytest.raises(ConfigError, match="ENRESNET_THREADS must be a number of threads in"):
            requested_threads(None, {threads.ENV: bad})


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_free_cores_are_used_when_nothing_is_asked(monkeypatch, torch_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv(threads.ENV, raising=False)
    torch.set_num_threads(2)  # torch's own count, as on a 2-core machine
    monkeypatch.setattr(threads, "busy_cores", lambda cpus: 1.0)
    count, note = thread_count()
    assert count == 1 and "other processes keep 1.0 cores busy: computing with 1 of 2 threads" in note
    monkeypatch.setattr(threads, "busy_cores", lambda cpus: 0.1)
    assert thread_count() == (2, None)
    monkeypatch.setattr(threads, "busy_cores", lambda cpus: None)  # unknown load: torch's count
    assert thread_count() == (2, None)


def test_omp_num_threads_is_kept_and_nothing_is_sampled(monkeypatch, torch_threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.delenv(threads.ENV, raising=False)
    torch.set_num_threads(2)

    def sampled(cpus):
        raise AssertionError("sampled the load although OMP_NUM_THREADS is set")

    monkeypatch.setattr(threads, "busy_cores", sampled)
    assert thread_count() == (2, None)
    assert thread_count(1) == (1, None)


def test_busy_cores_is_a_share_of_this_process_cores():
    cpus = os.sched_getaffinity(0)
    busy = threads.busy_cores(cpus, seconds=0.05)
    assert busy is not None and -0.01 <= busy <= len(cpus) + 0.01


def test_a_command_sets_the_threads_for_its_work_only(tmp_path, monkeypatch, torch_threads, capsys):
    import enresnet.train as train_module

    seen = []
    monkeypatch.setattr(train_module, "train", lambda *a, **k: seen.append(torch.get_num_threads()) or [])
    cfg = write_config(tmp_path / "c.toml", tiny_config())
    torch.set_num_threads(1)
    assert main(["train", str(cfg), "--out", str(tmp_path / "a"), "--threads", "2", "--quiet"]) == 0
    monkeypatch.setenv(threads.ENV, "3")
    assert main(["train", str(cfg), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert seen == [2, 3] and torch.get_num_threads() == 1  # the caller's count is back
    monkeypatch.setenv(threads.ENV, "many")
    assert main(["train", str(cfg), "--out", str(tmp_path / "c"), "--quiet"]) == 2
    assert "ENRESNET_THREADS must be a number of threads" in capsys.readouterr().err
