"""CPU sharing between concurrent vaelib jobs: a real registry, real processes, real OS locks."""

import subprocess
import sys
import textwrap

import torch

from vaelib.infra import cpushare
from vaelib.infra.cpushare import CpuShare

HOLD = textwrap.dedent("""
    import sys, time
    from vaelib.infra.cpushare import CpuShare
    with CpuShare() as share:
        print("ready", flush=True)
        sys.stdin.readline()
""")


def test_jobs_count_each_other_and_a_dead_one_stops_counting(tmp_path, monkeypatch):
    monkeypatch.setenv(cpushare.REGISTRY_ENV, str(tmp_path))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    other = subprocess.Popen([sys.executable, "-c", HOLD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "ready"
        with CpuShare() as share:
            assert share.jobs == 2
            assert share.threads == max(1, cpushare.available_cores() // 2)
            assert "shared by 2 running vaelib job(s)" in share.reason
            other.kill()                 # killed, not exited: its lock goes with it
            other.wait()
            share.adjust(force=True)
            assert share.jobs == 1 and share.threads == cpushare.available_cores()
            assert torch.get_num_threads() == share.threads
    finally:
        other.kill()
    assert not list(tmp_path.glob("*.job"))          # the dead job's file was cleaned up, ours removed


def test_a_thread_count_the_user_set_is_obeyed(tmp_path, monkeypatch):
    monkeypatch.setenv(cpushare.REGISTRY_ENV, str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with CpuShare() as share:
        assert share.threads == 1 and share.reason == "OMP_NUM_THREADS=1 set"
    monkeypatch.delenv("OMP_NUM_THREADS")
    with CpuShare(num_threads=3) as share:
        assert share.threads == 3 and torch.get_num_threads() == 3 and share.reason == "num_threads=3 asked"
