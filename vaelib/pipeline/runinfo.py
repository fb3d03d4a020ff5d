"""results/run.json: what made a report (command, sweep, code, torch, devices) and what it cost."""

from __future__ import annotations

from ..analysis import tables
from ..config.sweep import Sweep
from ..data import datasets as data
from ..core import iwae
from ..evaluation import metrics
from ..infra import paths, provenance
from ..infra.cpushare import available_cores
from ..training import runs
from .cost import KINDS, kind


def write_run_info(where: paths.Paths, sweep: Sweep, done: dict, setup: dict) -> dict:
    """results/run.json: what made this report (`setup`: pipeline.report.plan's), and how long each kind of
    step took and how much memory (`done`: pipeline.schedule.execute's)."""
    folders = [where.runs / c.name for c in sweep.configs()]
    evaluated = [metrics.read(f) for f in folders if (f / "metrics.json").is_file()]
    run_prov = [runs.read_provenance(f) or {} for f in folders]
    first = runs.read_config(folders[0])
    watch, seconds = done["watch"], done["seconds"]
    info = {"command": setup["command"], "sweep": sweep.to_params(), "jobs": done["workers"], "engine": done["engine"],
            "training": {k: getattr(first, k) for k in ("batch_size", "lr", "beta")},
            "images": {"train": data.images_in(sweep.dataset, True, sweep.train_limit),
                       "test": data.images_in(sweep.dataset, False, sweep.test_limit)},
            "threads_per_job": setup["threads"] or "shared by the jobs of each machine", "cores": available_cores(),
            "cpu": provenance.cpu()["model"], "wall_minutes": done["wall"] / 60, "peak_memory_mb": watch.mb,
            "all_cores_busy_share": watch.all_busy_share, "machine_cpu_use": watch.cpu_use,
            "minutes": {k: sum(s for name, s in seconds.items() if kind(name) == k) / 60 for k in KINDS},
            "training_minutes_in_histories": sum(float(runs.load_history(f)["seconds"].sum()) for f in folders) / 60,
            "evaluation_minutes_in_metrics": sum(sum(m["seconds"].values()) for m in evaluated) / 60,
            "runs_code": sorted({p.get("code", "unknown") for p in run_prov}),
            "runs_commits": sorted({p.get("commit", "no git") + ("+dirty" if p.get("dirty") else "")
                                    for p in run_prov}),
            "torch": sorted({p.get("torch", "unknown") for p in run_prov}),
            "devices": sorted({p.get("device", "unknown") for p in run_prov}),
            "evaluation_devices": sorted({m["provenance"].get("device", "cpu") for m in evaluated}),
            "report": provenance.record({**metrics.VERSIONS, **{f"iwae {a}": iwae.version(a) for a in sweep.archs}}),
            "task_peak_mb": {k.removesuffix("s"): max((mb for name, mb in done["peaks"].items() if kind(name) == k),
                                                      default=None) for k in KINDS},
            "task_budget_mb": setup["budget"], "estimate": setup["estimate"]}
    tables.save_record(info, where.results / "run.json", sort_keys=True)     # checked (analysis.schema)
    return info
