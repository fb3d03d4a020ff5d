"""Faults a user meets, made real: a full filesystem, a file-size limit, truncated and byte-flipped
checkpoints and weights, a closed port (Ctrl-C to a running report: test_interrupted_report.py). Each ends
in one plain line (no traceback) with its documented exit code, and what was good before is still good after."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
from conftest import kill_once, one_line_error
from vaelib.infra.faults import BAD_INPUT, FILE_FAULT, UNREACHABLE
from vaelib.training import runs
from vaelib.training.engine import train
from vaelib.config import RunConfig

LOSSES = ["train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl"]
TRAIN = [sys.executable, "-m", "vaelib", "train", "--arch", "linear", "--latent-dim", "2", "--train-limit", "500",
         "--test-limit", "100", "--threads", "1", "--quiet"]


def uninterrupted(tmp_path, epochs=3):
    cfg = RunConfig(arch="linear", latent_dim=2, epochs=epochs, train_limit=500, test_limit=100, num_threads=1)
    return train(cfg, tmp_path / "reference", progress=False).history[LOSSES]


def can_mount_tmpfs() -> str | None:
    if shutil.which("unshare") is None:
        return "no unshare(1) here"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                           capture_output=True, text=True)
    return None if probe.returncode == 0 else f"cannot mount a tmpfs in a private namespace: {probe.stderr.strip()}"


@pytest.mark.skipif(can_mount_tmpfs() is not None, reason=str(can_mount_tmpfs()))
def test_a_full_disk_keeps_the_last_good_epoch_and_the_same_command_resumes(tmp_path):
    """An 8 MB tmpfs holds epoch 1 (a 4.9 MB checkpoint), not epoch 2 beside it: ENOSPC while writing."""
    mount, out = tmp_path / "small", tmp_path / "out"
    mount.mkdir()
    out.mkdir()
    cmd = " ".join(TRAIN + ["--epochs", "3", "--runs-dir", str(mount)])
    script = textwrap.dedent(f"""
        mount -t tmpfs -o size=8m tmpfs {mount} || exit 99
        {cmd} > {out}/stdout1 2> {out}/stderr1; echo $? > {out}/rc1
        cp -r {mount}/linear_2_s0 {out}/after_fault
        mount -o remount,size=64m {mount}
        {cmd} > {out}/stdout2 2> {out}/stderr2; echo $? > {out}/rc2
        cp {mount}/linear_2_s0/history.csv {out}/history.csv
    """)
    assert subprocess.run(["unshare", "-m", "sh", "-c", script], timeout=600).returncode == 0
    first = subprocess.CompletedProcess([], int((out / "rc1").read_text()), "", (out / "stderr1").read_text())
    line = one_line_error(first, FILE_FAULT)
    assert "no space left on the device while writing" in line and "checkpoint.pt" in line
    assert "Free some space, then run the same command again" in line
    kept = out / "after_fault"
    assert not list(kept.glob(".*tmp*")), "a half-written temporary file was left behind"
    history = pd.read_csv(kept / "history.csv")
    assert list(history["epoch"]) == [1]                      # epoch 1, as written before the fault
    assert (kept / "checkpoint.prev.pt").is_file()           # epoch 1's checkpoint, whole
    assert int((out / "rc2").read_text()) == 0, (out / "stderr2").read_text()[-2000:]
    resumed = pd.read_csv(out / "history.csv")[LOSSES]
    pd.testing.assert_frame_equal(resumed, uninterrupted(tmp_path), check_exact=True)


def test_a_file_size_limit_gives_the_same_one_line_and_no_partial_file(tmp_path):
    """`ulimit -f` makes writes fail with EFBIG, not ENOSPC: the same message family, the same code."""
    cmd = " ".join(TRAIN + ["--epochs", "1", "--runs-dir", str(tmp_path / "runs")])
    result = subprocess.run(["bash", "-c", f"ulimit -f 3000; {cmd}"], capture_output=True, text=True, timeout=300)
    line = one_line_error(result, FILE_FAULT)
    assert "the file-size limit was reached while writing" in line and "checkpoint.pt" in line
    folder = tmp_path / "runs" / "linear_2_s0"
    assert not list(folder.glob(".*tmp*")) and not (folder / "checkpoint.pt").exists()
    assert runs.read_status(folder)["status"] == "running"        # resumable: the same command starts it again
    again = subprocess.run(TRAIN + ["--epochs", "1", "--runs-dir", str(tmp_path / "runs")], capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0 and runs.is_finished(folder)


def killed_after_epoch_two(tmp_path):
    """A real training process killed once its second checkpoint is written (checkpoint.prev.pt appears)."""
    folder = tmp_path / "runs" / "linear_2_s0"
    cmd = [sys.executable, "-m", "vaelib", "train", "--arch", "linear", "--latent-dim", "2", "--train-limit", "3000",
           "--test-limit", "100", "--threads", "1", "--quiet", "--epochs", "30", "--runs-dir", str(tmp_path / "runs")]
    kill_once(cmd, folder / "checkpoint.prev.pt")
    if not (folder / "checkpoint.pt").is_file():     # killed between the rename and the next write: a fallback
        shutil.copy(folder / "checkpoint.prev.pt", folder / "checkpoint.pt")   # case too; make it the damaged one
    return folder, cmd


def flip_a_byte(path, where=0.6):
    raw = bytearray(path.read_bytes())
    raw[int(len(raw) * where)] ^= 0x01
    path.write_bytes(bytes(raw))


@pytest.mark.slow
def test_a_damaged_checkpoint_falls_back_one_epoch_then_is_named_with_the_way_back(tmp_path):
    folder, cmd = killed_after_epoch_two(tmp_path)
    epochs_done = len(pd.read_csv(folder / "history.csv"))
    assert epochs_done >= 1
    ckpt = folder / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])          # truncated
    fallback = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert fallback.returncode == 0, fallback.stderr[-2000:]
    assert "resuming from the previous epoch's checkpoint checkpoint.prev.pt" in fallback.stdout
    assert runs.is_finished(folder)

    folder, cmd = killed_after_epoch_two(tmp_path / "second")
    flip_a_byte(folder / "checkpoint.pt")                     # a flipped byte inside a tensor: torch would load it
    flip_a_byte(folder / "checkpoint.prev.pt")
    before = {p.name: p.read_bytes() for p in folder.glob("*.p*")}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    line = one_line_error(result, FILE_FAULT)
    assert "run linear_2_s0 cannot resume" in line and "do not match the checksum" in line and "--force" in line
    assert {p.name: p.read_bytes() for p in folder.glob("*.p*")} == before      # nothing touched
    forced = subprocess.run(cmd + ["--force"], capture_output=True, text=True, timeout=600)
    assert forced.returncode == 0 and runs.is_finished(folder)
    assert len(list(folder.parent.glob("linear_2_s0.replaced-*"))) == 1          # the damaged one kept aside


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluated")
    subprocess.run(TRAIN + ["--epochs", "1", "--runs-dir", str(root)], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "vaelib.classifier", str(root / "clf.pt"), "--train-limit", "500"],
                   check=True, capture_output=True)
    return root


def metrics_cli(*args):
    return subprocess.run([sys.executable, "-m", "vaelib.metrics", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_the_evaluation_step_refuses_bad_input_before_any_work(finished_run, tmp_path):
    run, clf = finished_run / "linear_2_s0", finished_run / "clf.pt"
    assert "--iwae-k=-1 is not allowed" in one_line_error(metrics_cli(run, "--classifier", clf, "--iwae-k", "-1"),
                                                           BAD_INPUT)
    assert "holds no run" in one_line_error(metrics_cli(tmp_path / "nowhere", "--classifier", clf), BAD_INPUT)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run, unfinished)
    runs.write_status(unfinished, "running")
    assert "not finished (running)" in one_line_error(metrics_cli(unfinished, "--classifier", clf), BAD_INPUT)
    assert "no digit classifier" in one_line_error(metrics_cli(run, "--classifier", tmp_path / "x.pt"), BAD_INPUT)
    assert not (run / "metrics.json").exists()


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_damaged_weights_are_a_named_fault_not_a_silent_wrong_model(finished_run, tmp_path, damage):
    run = tmp_path / "run"
    shutil.copytree(finished_run / "linear_2_s0", run)
    weights = run / "weights.pt"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        flip_a_byte(weights)
    line = one_line_error(metrics_cli(run, "--classifier", finished_run / "clf.pt", "--iwae-k", "0"), FILE_FAULT)
    assert str(weights) in line and "damaged" in line and "--force" in line
    assert not (run / "metrics.json").exists()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]          # closed again when the socket closes: nothing listens there


SMOKE = [sys.executable, "-m", "vaelib.report", "--smoke", "--archs", "linear", "--dims", "2", "--seeds", "0",
         "--datasets", "mnist", "--iwae-k", "5"]


@pytest.mark.parametrize("via", ["flag", "environment"])
def test_an_unreachable_scheduler_fails_in_seconds_naming_address_and_source(tmp_path, via):
    address = f"tcp://127.0.0.1:{closed_port()}"
    env = {**os.environ, "VAELIB_SCHEDULER": address} if via == "environment" else os.environ
    args = [] if via == "environment" else ["--scheduler", address]
    start = time.perf_counter()
    result = subprocess.run(SMOKE + ["--out", str(tmp_path)] + args, capture_output=True, text=True, env=env,
                            timeout=120)
    seconds = time.perf_counter() - start
    line = one_line_error(result, UNREACHABLE)
    assert address in line and ("--scheduler" if via == "flag" else "$VAELIB_SCHEDULER") in line
    assert "within 5 s" in line            # the wait itself; the rest is Python importing torch and Dask,
    assert seconds < 60, f"took {seconds:.0f} s"   # 20-35 s when the machine is loaded


def test_a_notebook_first_cell_raises_the_same_line_as_the_command(tmp_path):
    """Under papermill, notebook 01's first cell fails with the very message the CLI prints after 'error: '."""
    import papermill
    from vaelib.infra.paths import PROJECT
    cli = subprocess.run(TRAIN[:7] + ["0", "--runs-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    line = one_line_error(cli, BAD_INPUT).removeprefix("error: ")
    with pytest.raises(papermill.PapermillExecutionError) as failed:
        papermill.execute_notebook(PROJECT / "notebooks" / "01_train.ipynb", tmp_path / "out.ipynb",
                                   parameters={"latent_dim": 0, "smoke_test": True, "runs_dir": str(tmp_path)},
                                   cwd=PROJECT / "notebooks", progress_bar=False, kernel_name="python3")
    assert failed.value.ename == "ConfigError" and failed.value.evalue == line
