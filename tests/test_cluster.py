"""The runner on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on localhost
(as a lab cluster would run them, with a shared folder), a worker killed mid-training, and two
runners at once on one runs/ folder, one of them through that scheduler."""

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client

from vaelib.training import runs
from vaelib.infra.paths import resolve
from vaelib.pipeline.tasks import build_tasks
from vaelib.analysis.figures import expected_figures
from vaelib.pipeline.schedule import run_all
from vaelib.config.sweep import Sweep
from vaelib.training.engine import train

DASK = str(Path(sys.executable).with_name("dask"))
SMALL = ["--smoke", "--archs", "linear", "--dims", "2", "3", "--seeds", "0", "--datasets", "mnist", "--iwae-k", "10"]
LOSS_COLUMNS = ["train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl"]


@pytest.fixture
def scheduler(tmp_path):
    """A real scheduler and two single-thread worker processes (no nanny: killing one kills the worker)."""
    address_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([DASK, "scheduler", "--scheduler-file", str(address_file), "--port", "0",
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    deadline = time.time() + 60
    while not address_file.exists() and time.time() < deadline:
        time.sleep(0.2)
    address = json.loads(address_file.read_text())["address"]
    procs += [subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                "--memory-limit", "0", "--name", f"w{i}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2)]
    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
    yield address, procs[1:]
    for p in procs:
        p.kill()
        p.wait()


def report(*args, timeout=900):
    return subprocess.Popen([sys.executable, "-m", "vaelib.report", *SMALL, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=900):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out


@pytest.mark.slow
def test_a_worker_killed_mid_training_hands_the_run_to_the_other_which_resumes_it(tmp_path, scheduler):
    address, workers = scheduler
    sweep = Sweep.from_params({"archs": ["conv"], "dims": [2], "seeds": [0], "epochs": 5, "datasets": ["mnist"],
                               "iwae_k": 0, "train_limit": 6000, "test_limit": 500}, smoke=False)
    where = resolve(out=tmp_path / "out").make()
    task = next(t for t in build_tasks(sweep, where, 1, False, False, set(), estimate=False) if t.name == "train conv_2_s0")
    folder = where.runs / "conv_2_s0"
    outcome = {}

    def run():
        try:
            with Client(address) as client:
                outcome["seconds"] = run_all([task], client)
        except BaseException as e:  # noqa: BLE001 (checked below)
            outcome["error"] = e
    runner = threading.Thread(target=run)
    runner.start()
    deadline = time.time() + 300
    while time.time() < deadline and not (folder / "history.csv").exists():
        time.sleep(0.05)
    trainer = next(p for p in _processes() if "01_train_conv_2_s0" in p[2])   # papermill, a worker's child
    victim = next(w for w in workers if w.pid == trainer[1])
    victim.send_signal(signal.SIGKILL)
    epochs_before = len(pd.read_csv(folder / "history.csv"))
    runner.join(timeout=600)
    assert "error" not in outcome, outcome.get("error")
    assert 1 <= epochs_before < 5, "the training ended before its worker could be killed"
    executed = (where.executed / "01_train_conv_2_s0.ipynb").read_text()
    assert "resuming after epoch" in executed          # the retried task went on from the checkpoint
    clean = train(sweep.config("conv", 2, num_threads=1), tmp_path / "clean", progress=False)
    resumed = runs.load_history(folder)
    assert list(resumed["epoch"]) == [1, 2, 3, 4, 5]
    pd.testing.assert_frame_equal(resumed[LOSS_COLUMNS], clean.history[LOSS_COLUMNS], check_exact=True)


@pytest.mark.slow
def test_two_runners_on_one_runs_folder_one_through_a_scheduler_train_each_run_once_and_agree(tmp_path, scheduler):
    """Runner a on the running scheduler's two workers, runner b on its own LocalCluster, at once, sharing
    one runs/ folder (as two users of a lab cluster might): every run is trained once, by whichever
    engine took it first, and both write-ups are made of the same numbers."""
    address, _ = scheduler
    shared = tmp_path / "runs"
    procs = [report("--runs-dir", str(shared), "--out", str(tmp_path / "a"), "--scheduler", address),
             report("--runs-dir", str(shared), "--out", str(tmp_path / "b"))]
    through_scheduler, _ = (finish(p) for p in procs)
    assert f"Dask scheduler {address}: 2 worker(s)" in through_scheduler
    info = json.loads((tmp_path / "a" / "results" / "run.json").read_text())
    assert info["engine"].startswith(f"Dask scheduler {address}") and info["jobs"] == 2
    assert json.loads((tmp_path / "b" / "results" / "run.json").read_text())["engine"].startswith("Dask LocalCluster")
    sweep = Sweep.from_params({"archs": ["linear"], "dims": [2, 3], "seeds": [0], "datasets": ["mnist"],
                               "iwae_k": 10}, smoke=True)
    for r in ("a", "b"):
        assert {p.name for p in (tmp_path / r / "figures").glob("*.png")} == set(expected_figures(sweep))
        assert "linear" in (tmp_path / r / "REPORT.md").read_text()
    scores = pd.read_csv(tmp_path / "a" / "results" / "metrics.csv")
    assert sorted(scores["latent_dim"]) == [2, 3] and scores["iwae_bound"].notna().all()
    for name in ("linear_2_s0", "linear_3_s0"):
        logs = [(tmp_path / r / "executed" / f"01_train_{name}.ipynb").read_text() for r in ("a", "b")]
        trained = [log for log in logs if "epoch 1/1: train" in log]
        assert len(trained) == 1, f"{name} was trained {len(trained)} times"
        assert any("reused" in log for log in logs)
        assert len(runs.load_history(shared / name)) == 1 and runs.is_finished(shared / name)
    for table in sorted((tmp_path / "a" / "results").glob("*.csv")):
        assert table.read_bytes() == (tmp_path / "b" / "results" / table.name).read_bytes(), table.name


def _processes():
    """(pid, parent pid, command line) of every process."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            out.append((int(stat.parent.name), ppid, cmd))
        except (OSError, IndexError, ValueError):
            continue
    return out
