import signal
import subprocess
import time

import pytest
import torch

from vaelib.data import datasets as data


SMOKE_REPORT_MB = 3000     # peak memory of a smoke report with its own workers (2.7 GB PSS seen): one test's share


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (make test): one test worker per core this process may use (its affinity, not the machine's
    count), as many as free memory allows at a smoke report's peak."""
    import psutil
    from vaelib.infra.cpushare import available_cores
    return max(1, min(available_cores(), int(psutil.virtual_memory().available / 2 ** 20 // SMOKE_REPORT_MB)))


def pytest_collection_modifyitems(items):
    """The slow tests first (a stable sort: files keep their order otherwise): with test workers
    (`make test` runs pytest-xdist), a long test started last would leave one core idle at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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
