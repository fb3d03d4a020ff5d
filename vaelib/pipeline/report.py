"""Run the whole report: train every model of the sweep, evaluate them, run the analysis notebooks,
render REPORT.md.

    python -m vaelib.report                              # the full report: 10 models x 10 seeds x 15 epochs, extras
    python -m vaelib.report --quick                      # a quick look (config.sweep.QUICK) in quick/
    python -m vaelib.report --smoke --out /tmp/x         # CI-sized, everything under /tmp/x

Steps (each a task on a Dask cluster: by default a local one of `--jobs` single-thread workers, or the
scheduler at `--scheduler` / $VAELIB_SCHEDULER; costliest first, a step starts when what it needs is done):
the digit classifier; notebook 01 for every run (training); the evaluation of every run
(`python -m vaelib.metrics`: ELBO, IWAE bound on the first seed, reconstruction and k-NN accuracy,
latent diagnostics); the results tables (results/, vaelib.analysis.results); notebooks 02-05 (figures/); REPORT.md.

A step whose result is fresh (a finished run of the same config and training version, an evaluation whose
every metric is of today's version, the classifier; docs/provenance.md) is left out of the graph. Runs made by
another training version are listed and retrained (the old folders are kept aside) unless --keep-stale;
--force retrains everything.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..analysis import writeup
from ..analysis.figures import write_figure_index
from ..config.run import check_device
from ..config.sweep import EXTRAS, QUICK, Sweep
from ..data import datasets as data
from ..infra import paths
from ..site import build as site
from ..training import runs
from ..training.engine import TRAINING_VERSION
from . import cost
from .runinfo import write_run_info
from .schedule import Task, execute
from .tasks import build_tasks
from .workers import engine_options, local_workers, task_budget_mb
from ..infra import logs
from ..infra.faults import EXIT_CODES, Refused, guard


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m vaelib.report", description=__doc__, epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Sweep()
    parser.add_argument("--archs", nargs="+", default=list(default.archs))
    parser.add_argument("--dims", nargs="+", default=list(default.dims))
    parser.add_argument("--seeds", nargs="+", default=None, help=f"default: {list(default.seeds)} (smoke: 0 1)")
    parser.add_argument("--epochs", default=default.epochs)
    parser.add_argument("--datasets", nargs="+", default=list(default.datasets),
                        help="mnist first; each further one gets an appendix model")
    parser.add_argument("--iwae-k", default=None, help=f"importance samples (first seed only; 0 skips; "
                                                       f"default {default.iwae_k})")
    parser.add_argument("--extras", nargs="*", default=None, choices=list(EXTRAS),
                        help=f"named extra experiments beside the grid (default: all: {', '.join(EXTRAS)}; "
                             f"none: --extras with no name)")
    parser.add_argument("--force", action="store_true", help="retrain every run (old folders are kept aside)")
    parser.add_argument("--keep-stale", action="store_true", help="reuse runs made by other training code")
    parser.add_argument("--smoke", action="store_true", help="CI-sized runs (2,000/500 images, 1 epoch)")
    parser.add_argument("--quick", action="store_true", help="a quick look, each setting unless given: " + ", ".join(
        f"{k} {(' '.join(map(str, v)) or 'none') if isinstance(v, tuple) else v}" for k, v in QUICK.items()) + "; in quick/ unless --out")
    parser.add_argument("--estimate", action="store_true",
                        help="print what the report would cost on this machine (with --jobs N: on N workers) and stop")
    parser.add_argument("--classifier-limit", type=int, default=None,
                        help="train the digit classifier on the first N training images (default: all)")
    engine_options(parser, ("runs", "figures", "results", "executed"),
                   "runs/, figures/, results/, executed/ and REPORT.md")
    if parser.parse_args(argv).quick:      # the quick look's settings as the defaults: what the command gives wins
        parser.set_defaults(out=str(paths.PROJECT / "quick"),
                            **{k: list(v) if isinstance(v, tuple) else v for k, v in QUICK.items()})
    return parser.parse_args(argv)


def plan(args, argv) -> tuple[Sweep, paths.Paths, list[Task], dict]:
    """The sweep and folders from the arguments (every setting and the data checked before anything runs),
    and the report's task graph for this machine."""
    settings = {k: getattr(args, k) for k in ("archs", "dims", "epochs", "datasets", "seeds", "extras",
                                              "classifier_limit") if getattr(args, k) is not None}
    sweep = Sweep.from_params(settings, smoke=args.smoke)
    check_device(args.device)
    task_budget_mb()
    if args.iwae_k is not None:
        sweep = Sweep.from_params({**sweep.to_params(), "iwae_k": args.iwae_k})
    for dataset in sweep.datasets:
        data.verify(dataset)
    where = paths.resolve(args.smoke, args.out, args.runs_dir, args.figures_dir, args.results_dir,
                          args.executed_dir).make()
    stale = {c.name for c in sweep.configs() if runs.is_stale(where.runs / c.name, TRAINING_VERSION)}
    if stale:
        verb = "reused as they are (--keep-stale)" if args.keep_stale else \
            "retrained (old folders kept as NAME.replaced-<time>; --keep-stale reuses them)"
        print(f"{len(stale)} run(s) were made by another training version than today's "
              f"({TRAINING_VERSION}): {', '.join(sorted(stale))}; they will be {verb}")
    machine, jobs, threads, budget = local_workers(args.jobs, args.scheduler)
    if not (args.jobs or args.scheduler):
        print(f"local workers from the machine: {machine.reason} (--jobs overrides)")
    gpus = 0 if args.scheduler or args.device == "cpu" else machine.gpus
    load = os.getloadavg()[0]                   # before the estimate's own timing adds to it
    with cost.beside_the_other_workers(None if gpus else threads):      # timed as the report's steps will run
        tasks = build_tasks(sweep, where, threads, args.force, args.keep_stale, set() if args.keep_stale else stale,
                            args.device, gpus)
    command = " ".join(["python -m vaelib.report", *argv])
    return sweep, where, tasks, {"jobs": jobs, "threads": threads, "budget": budget, "command": command,
                                 "gpu_slots": machine.gpu_slots if gpus else None,
                                 "estimate": cost.summary(tasks, jobs, load)}


def render(sweep: Sweep, where: paths.Paths, done: dict, setup: dict) -> None:
    """results/run.json, the figure index, REPORT.md and the page, and what the report cost."""
    write_figure_index(where, sweep, setup["command"])
    info = write_run_info(where, sweep, done, setup)
    report = writeup.render_to(where.results, where.results.parent / "REPORT.md")
    page, models = site.build(sweep, where.runs, report, where.results.parent / "site")
    watch = done["watch"]
    print(f"training {info['minutes']['train']:.1f} task-min, evaluation {info['minutes']['evaluate']:.1f} task-min, "
          f"notebooks {info['minutes']['notebooks']:.1f} task-min; peak memory (PSS, all processes of the report "
          f"together) {watch.mb:.0f} MB; every core busy {100 * watch.all_busy_share:.0f}% of the time "
          f"(machine CPU use {100 * watch.cpu_use:.0f}%); the largest step "
          f"{max(done['peaks'].values(), default=0):,.0f} MB against its budget of {setup['budget']:,.0f} MB")
    print(cost.compare(setup["estimate"], info["minutes"], done["wall"] / 60))
    print(f"total wall time: {done['wall'] / 60:.1f} min; figures in {where.figures}, tables in {where.results}, "
          f"executed notebooks in {where.executed}, write-up {report}, the page {page} "
          f"({models.stat().st_size / 2 ** 20:.1f} MiB of decoders beside it)")


@guard
def main(argv=None) -> int:
    args = parse(argv)
    logs.show()
    try:
        sweep, where, tasks, setup = plan(args, argv)
    except ValueError as e:      # a ConfigError is one already; the memory budget's is not
        raise Refused(str(e)) from e
    print(f"report over {len(sweep.configs())} runs ({sweep.to_params()}) into {where.runs.parent}")
    print(cost.said(setup["estimate"], len(tasks)))
    if args.estimate:
        return 0
    done = execute(tasks, setup["jobs"], args.scheduler, gpu_slots=setup["gpu_slots"])
    render(sweep, where, done, setup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
