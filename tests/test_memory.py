"""Memory as a budget: the IWAE evaluation's memory stays flat over the test images under the runner's
environment (a decoder form that grew with every chunk once had the kernel kill a full-size report), and
a step that passes its budget, or that a signal kills, fails alone with one line naming it."""

import json
import os
import subprocess
import sys

import pytest

from vaelib.config.run import RunConfig
from vaelib.infra.faults import StepFailed
from vaelib.pipeline.launch import MALLOC_ENV, python
from vaelib.pipeline.schedule import Task, TaskFailed, cluster, run_all
from vaelib.training.engine import train

# The bound on `images` test images in a process started as the runner starts an evaluation; the RSS
# (MB) at every chunk of 2 images x 1,000 samples.
BOUND_RSS = """
import json, sys, psutil, torch
from vaelib.core.iwae import iwae_bound
from vaelib.core.models import load_model
from vaelib.data import datasets as data
torch.set_num_threads(1)
model = load_model(sys.argv[1])
x = data.load("mnist", train=False, limit=int(sys.argv[2]))[0]
proc, rss = psutil.Process(), []
iwae_bound(model, x, k=1000, each_chunk=lambda: rss.append(proc.memory_info().rss / 2 ** 20))
print(json.dumps(rss))
"""
SETTLED, CHUNKS, GROWTH_MB = 50, 400, 48


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["linear", "conv"])
def test_the_bounds_memory_does_not_grow_with_the_number_of_images(arch, tmp_path):
    """After the first chunks (allocator and caches warm), 350 more chunks add no memory: a leak of
    even 0.15 MB per chunk fails (the former conv form grew about 0.5 MB per chunk from chunk 250)."""
    config = RunConfig(arch=arch, latent_dim=3, epochs=1, train_limit=2000, test_limit=100, num_threads=1)
    train(config, tmp_path, progress=False)
    out = subprocess.run([sys.executable, "-c", BOUND_RSS, str(tmp_path / config.name), str(2 * CHUNKS)],
                         capture_output=True, text=True, env={**os.environ, **MALLOC_ENV}, check=True)
    rss = json.loads(out.stdout)
    assert len(rss) == CHUNKS
    growth = max(rss[SETTLED:]) - rss[SETTLED]
    assert growth < GROWTH_MB, f"RSS grew {growth:.0f} MB over chunks {SETTLED}-{CHUNKS}: {rss[SETTLED::50]}"


def test_a_step_over_its_memory_budget_is_stopped_with_one_line_naming_it():
    hog = "import time; block = bytearray(b'x') * (600 * 2 ** 20); time.sleep(30)"
    with pytest.raises(StepFailed) as failed:
        python(["-c", hog], "evaluate hog", budget_mb=300)
    line = str(failed.value)
    assert "\n" not in line
    assert line.startswith("evaluate hog stopped: its memory reached ") and "over its budget of 300 MB" in line
    assert float(line.split("reached ")[1].split(" MB")[0].replace(",", "")) > 300


def test_a_step_killed_by_the_kernel_is_named_as_such():
    victim = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    with pytest.raises(StepFailed, match=r"^evaluate victim was killed by SIGKILL, probably out of memory") as e:
        python(["-c", victim], "evaluate victim")
    assert "\n" not in str(e.value) and "run the same command again" in str(e.value)


def test_a_failed_step_does_not_stop_the_steps_that_do_not_need_it(tmp_path):
    done = tmp_path / "done"
    tasks = [Task("evaluate hog", lambda: python(["-c", "raise SystemExit('error: no memory left')"], "evaluate hog"),
                  cost=10),
             Task("tables", lambda: done.write_text("x"), deps=("evaluate hog",)),
             Task("train other", lambda: python(["-c", f"open({str(done)!r} + '.other', 'w')"], "train other"),
                  cost=1)]
    with cluster(jobs=1) as client, pytest.raises(TaskFailed, match="^1 step\\(s\\) failed: evaluate hog failed"):
        run_all(tasks, client)
    assert (tmp_path / "done.other").exists(), "a step that did not need the failed one was not run"
    assert not done.exists(), "a step that needs the failed one ran"
