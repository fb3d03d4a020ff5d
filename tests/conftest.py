import os
import signal
import subprocess
import time

import pytest
import torch

from vaelib.data import datasets as data

# Tests that compare numbers run on the CPU, also on a GPU machine: "auto" means the CPU here and in every
# process a test starts (training.engine.resolve_device). The GPU's own tests (test_devices.py) name "cuda".
os.environ["VAELIB_AUTO_DEVICE"] = "cpu"


@pytest.fixture(scope="session")
def mnist_slice():
    """Small real MNIST slices: 2,000 train and 500 test images."""
    x_train, y_train = data.load("mnist", train=True, limit=2000)
    x_test, y_test = data.load("mnist", train=False, limit=500)
    return x_train, y_train, x_test, y_test


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def kill_once(cmd, ready, timeout: float = 120.0) -> None:
    """Start `cmd` (a real training process), SIGKILL it as soon as the file `ready` exists, and check
    that it was killed, not finished."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while not ready.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training ended before it could be killed"


def one_line_error(result, code):
    """The one plain line (no traceback) that a known fault or bad input ends in, with its exit code."""
    assert result.returncode == code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [l for l in result.stderr.splitlines() if l.startswith(("error: ", "interrupted: "))]
    assert len(errors) == 1, result.stderr[-2000:]
    return errors[0]
