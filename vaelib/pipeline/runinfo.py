"""results/run.json: what made a report (command, sweep, code, torch, devices) and what it cost."""

from __future__ import annotations

import platform

from ..analysis import tables
from ..config.sweep import Sweep
from ..data import datasets as data
from ..core import iwae
from ..evaluation import metrics
from ..infra import paths, provenance
from ..infra.cpushare import available_cores
from ..infra.memwatch import PeakMemory
from ..training import runs
from .cost import kind


def write_run_info(where: paths.Paths, sweep: Sweep, seconds: dict, wall: float, watch: PeakMemory,
                   jobs: int, threads: int | None, engine: str, command: str, peaks: dict | None = None,
                   budget_mb: float | None = None, estimate: dict | None = None) -> dict:
    """results/run.json: what made this report, and how long each kind of step took."""
    run_prov = [runs.read_provenance(where.runs / c.name) or {} for c in sweep.configs()]
    first = runs.read_config(where.runs / sweep.configs()[0].name)
    info = {"command": command, "sweep": sweep.to_params(), "jobs": jobs, "engine": engine,
            "training": {k: getattr(first, k) for k in ("batch_size", "lr", "beta")},
            "images": {split: len(data.load(sweep.dataset, train=split == "train",
                                            limit=sweep.train_limit if split == "train" else sweep.test_limit)[1])
                       for split in ("train", "test")},
            "threads_per_job": threads or "shared by the jobs of each machine", "cores": available_cores(),
            "cpu": _cpu_name(), "wall_minutes": wall / 60, "peak_memory_mb": watch.mb,
            "all_cores_busy_share": watch.all_busy_share, "machine_cpu_use": watch.cpu_use,
            "minutes": {k: sum(s for name, s in seconds.items() if kind(name) == k) / 60
                        for k in ("classifier", "train", "evaluate", "notebooks")}, "estimate": estimate,
            "training_minutes_in_histories": sum(
                float(runs.load_history(where.runs / c.name)["seconds"].sum()) for c in sweep.configs()) / 60,
            "evaluation_minutes_in_metrics": sum(
                sum(metrics.read(where.runs / c.name)["seconds"].values()) for c in sweep.configs()
                if (where.runs / c.name / "metrics.json").is_file()) / 60,
            "runs_code": sorted({p.get("code", "unknown") for p in run_prov}),
            "runs_commits": sorted({p.get("commit", "no git") + ("+dirty" if p.get("dirty") else "")
                                    for p in run_prov}),
            "torch": sorted({p.get("torch", "unknown") for p in run_prov}),
            "devices": sorted({p.get("device", "unknown") for p in run_prov}),
            "evaluation_devices": sorted({metrics.read(where.runs / c.name)["provenance"].get("device", "cpu")
                                          for c in sweep.configs() if (where.runs / c.name / "metrics.json").is_file()}),
            "report": provenance.record({**metrics.VERSIONS, **{f"iwae {a}": iwae.version(a) for a in sweep.archs}})}
    info["task_peak_mb"] = {kind: max((mb for name, mb in (peaks or {}).items() if name.startswith(prefix)),
                                      default=None)
                            for kind, prefix in (("classifier", "classifier"), ("train", "train"),
                                                 ("evaluate", "evaluate"), ("notebook", "0"))}
    info["task_budget_mb"] = budget_mb
    tables.save_record(info, where.results / "run.json", sort_keys=True)     # checked (analysis.schema)
    return info


def _cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"
