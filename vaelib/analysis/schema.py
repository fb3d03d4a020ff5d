"""results/ as a checked interface: every table and record in it, declared once here.

For each file of results/: its columns (or a record's keys), their types and ranges (losses and KLs >= 0,
seeds non-negative integers, shares in [0, 1], architectures of vaelib.core.models.ARCHS, known datasets), its
key (one row per key), when a report holds it (the sweep in run.json says), which of the sweep's runs or
settings it must cover, and, for a derived table, the tables it is computed from. A table is checked

- when it is written (tables.save, tables.save_record): what the file will hold, read back, before it replaces
  the old one; a column the code makes and this module does not declare is refused by name;
- when it is read (tables.read for the notebooks, read_folder for the write-up and the site): the first fault
  stops the command in one line (BadTable: exit code 1, no traceback, nothing written) naming the file, the
  line and the column, and the way back.

A file of results/ that is not declared here is refused too: declare it in TABLES or RECORDS (its columns,
key, `needed`: when a report holds it, `sources`: what it is derived from). Adding a column to a table is one
line: `name=KIND,` in its table's entry (the kinds are below: NATS, SEED, SHARE, ...; `.maybe` where it may
be empty). That a derived table is what its sources give today is checked by `python -m vaelib.writeup
--check` (vaelib.analysis.results.derived_problem), which re-derives every table that claim_tables writes (a
new one is also named in results.DERIVED) and the first floor (results.FIRST_FLOOR) into a copy and compares.
No section of the write-up falls back to other words when a column is missing: the column is declared here,
and without it nothing is rendered.

Why a declared schema in plain Python rather than a library (pandera, for example): the checks are a few
dozen lines over pandas, which the project has; what the project needs beyond a type and range check (the
sweep's runs covered, when a table must exist, the sources of a derived table, one line naming the file and
line) is not what such a library does, and it would add a dependency, with its own pins and import time, to
a project that tries to stay small.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..config.sweep import EXTRAS, Sweep
from ..core.models import ARCHS
from ..data.datasets import DATASETS
from ..infra.faults import STEP_FAILED, Fault
from . import inference

HERE = "vaelib/analysis/schema.py"
WAY_BACK = "`make report` re-derives it; `git checkout results/` restores the committed one"


class BadTable(Fault):
    """A file of results/ that is missing, damaged, out of its declared ranges, undeclared, or not what its
    sources give: refused in one line before anything is rendered."""

    code = STEP_FAILED


# ---- the kinds of column --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Col:
    """One column (or a record's key): kind int, float, str or bool (records also list, dict, any), an
    inclusive range, the allowed values or a pattern, whether it may be empty (a record's key: absent)."""

    kind: str
    low: float | None = None
    high: float | None = None
    allowed: tuple | None = None
    pattern: str | None = None
    na: bool = False
    what: str = ""
    of: "Col | None" = None          # a list's items

    @property
    def maybe(self) -> "Col":
        """The same column, which may be empty (NaN; in a record: absent or null)."""
        return replace(self, na=True)


VERDICT_WORDS = tuple(inference.VERDICTS)
COMPARISONS = ARCHS + tuple(f"{a} vs {b}" for a in ARCHS for b in ARCHS if a != b)

ARCH = Col("str", allowed=ARCHS, what="an architecture of vaelib.core.models.ARCHS")
COMPARISON = Col("str", allowed=COMPARISONS, what="an architecture, or two as 'a vs b'")
DATASET = Col("str", allowed=tuple(DATASETS), what="a dataset of vaelib.data.datasets.DATASETS")
DIM = Col("int", low=1, what="a latent dimension, from 1")
SEED = Col("int", low=0, what="a seed, a non-negative integer")
EPOCH = Col("int", low=1, what="an epoch count, from 1")
COUNT = Col("int", low=0, what="a count, never negative")
DIGIT = Col("int", low=0, high=9, what="a digit, 0 to 9")
RANK = Col("int", low=1, what="a rank or count, from 1")
NATS = Col("float", low=0, what="a loss or KL in nats, never negative")
ELBO = Col("float", high=0, what="an ELBO or likelihood bound of binary pixels, never positive")
SHARE = Col("float", low=0, high=1, what="a share or probability, in [0, 1]")
PERCENT = Col("float", low=0, high=100, what="a percentage, in [0, 100]")
SPREAD = Col("float", low=0, na=True, what="a standard deviation, never negative; empty with one seed")
SECONDS = Col("float", low=0, what="a duration, never negative")
POSITIVE = Col("float", low=0, what="never negative")
REAL = Col("float", what="a finite number")
TEXT = Col("str", what="text")
FLAG = Col("bool", what="True or False")
VERDICT = Col("str", allowed=VERDICT_WORDS, what=f"a verdict, one of {', '.join(VERDICT_WORDS)}")
ELSEWHERE = Col("str", allowed=VERDICT_WORDS + ("not rerun",), what="a verdict, or 'not rerun'")
SETTLED = Col("str", allowed=("yes", "no", "one machine only"), what="yes, no or 'one machine only'")
ROLE = Col("str", allowed=("new seed", "retrained", "swapped"), what="a role of the collapse experiment")
PREDICTED = Col("str", allowed=("collapses", "does not"), na=True, what="'collapses' or 'does not'")
SHA256 = Col("str", pattern=r"[0-9a-f]{64}", what="a sha256, 64 hex digits")
RECORD = Col("dict", what="a record")


def list_of(item: Col, na: bool = False) -> Col:
    return Col("list", of=item, na=na, what=f"a list of {item.what or item.kind}")


# ---- what a report holds: the sweep in run.json and what was trained ----------------------------------------

@dataclass
class Report:
    """What decides which tables a report holds: its sweep, the (arch, d) that final_by_seed.csv holds, and
    whether the rerun on another machine was used (rerun.json)."""

    sweep: Sweep
    trained: set = field(default_factory=set)
    rerun_used: bool = False


def ALWAYS(report: Report) -> bool:
    return True


def OPTIONAL(report: Report) -> bool:
    return False


def TWO_D(report: Report) -> bool:
    return report.sweep.has_2d()


def SLOPES(report: Report) -> bool:          # a test curve of two epochs or more has a slope (claims.convergence)
    return report.sweep.epochs >= 2


def RERUN(report: Report) -> bool:
    return report.rerun_used


def EXTRA_CLAIMS(report: Report) -> bool:
    """claims.all_extra_claims has rows: an extra and the arch it is compared with, both at two common d."""
    dims = {a: {d for b, d in report.trained if b == a} for a, _ in report.trained}
    return any(len(dims.get(a, set()) & dims.get(b, set())) == 2 for a, b in EXTRAS.values())


def APPENDIX(dataset: str) -> Callable[[Report], bool]:
    return lambda report: dataset in report.sweep.datasets[1:]


def RUNS(s: Sweep) -> list[tuple]:
    return [(a, d, x) for a in s.archs for d in s.dims for x in s.seeds]


def EPOCHS(s: Sweep) -> list[tuple]:
    return [(a, d, x, e) for a, d, x in RUNS(s) for e in range(1, s.epochs + 1)]


def SETTINGS(s: Sweep) -> list[tuple]:
    return [(a, d) for a in s.archs for d in s.dims]


def RUNS_2D(s: Sweep) -> list[tuple]:
    return [(a, x) for a in s.archs for x in s.seeds]


def FIRST_2D(s: Sweep) -> list[tuple]:
    return [(a, s.seeds[0]) for a in s.archs]


# ---- the tables -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    columns: dict
    key: tuple = ()                   # one row per key; () for a table of one row
    needed: Callable = ALWAYS         # does this report hold it? (Report -> bool)
    covers: tuple = ()                # (its columns, Sweep -> the keys of the sweep it must hold)
    sources: tuple = ()               # the files of results/ it is derived from


def table(key, needed=ALWAYS, covers=(), sources=(), **columns) -> Table:
    return Table(columns, tuple(key), needed, covers, tuple(sources))


RUN = ("arch", "latent_dim", "seed")
SETTING = ("arch", "latent_dim")
HISTORY = dict(train_loss=NATS, train_recon=NATS, train_kl=NATS, test_loss=NATS, test_recon=NATS, test_kl=NATS,
               seconds=SECONDS)
CLAIM = dict(claim=TEXT, family=TEXT, arch=COMPARISON, setting=TEXT, metric=TEXT, difference=REAL.maybe,
             ci_low=REAL.maybe, ci_high=REAL.maybe, p=SHARE.maybe, margin=POSITIVE, equivalence_p=SHARE.maybe,
             verdict=VERDICT, resolvable=POSITIVE.maybe, seeds_needed=RANK.maybe, seeds=COUNT,
             holm_p=SHARE.maybe, holm_equivalence_p=SHARE.maybe, holm_verdict=VERDICT.maybe,
             reading=TEXT, verdict_half=TEXT, verdict_twice=TEXT, smallest_margin=POSITIVE.maybe,
             welch_difference=REAL.maybe, welch_low=REAL.maybe, welch_high=REAL.maybe, welch_p=SHARE.maybe,
             welch_verdict=VERDICT, rank_shift=REAL.maybe, rank_low=REAL.maybe, rank_high=REAL.maybe,
             rank_p=SHARE.maybe, rank_verdict=VERDICT.maybe, why=TEXT.maybe, holm_reading=TEXT.maybe,
             sentence=TEXT.maybe, cell=TEXT.maybe)
SHARE_CLAIM = dict(claim=TEXT, arch=ARCH, top=RANK, ranks=TEXT, supporting=COUNT, seeds=COUNT, share=SHARE,
                   share_low=SHARE, share_high=SHARE, share_p=SHARE, share_verdict=VERDICT, support=TEXT,
                   holm_share_p=SHARE, holm_share_verdict=VERDICT, cell=TEXT)
READS = dict(digit=DIGIT, probability=SHARE, confident=FLAG)
SEEN = dict(images=COUNT, digits=COUNT, unclear=COUNT, share_digits=SHARE, classes=TEXT, missing=TEXT)
CONFUSIONS = dict(rank=RANK, true=DIGIT, predicted=DIGIT, count=COUNT, percent_of_true=PERCENT, arch=ARCH,
                  seed=SEED)
INTERVALS = dict(true=DIGIT, predicted=DIGIT, percent=PERCENT, percent_low=PERCENT, percent_high=PERCENT,
                 rank=RANK, rank_low=POSITIVE, rank_high=POSITIVE, arch=ARCH, seed=SEED)
PAIR_KEY = ("arch", "seed", "true", "predicted")

TABLES: dict[str, Table] = {
    # base tables: from the runs (vaelib.analysis.results.write_all)
    "histories.csv": table(RUN + ("epoch",), covers=(RUN + ("epoch",), EPOCHS), arch=ARCH, latent_dim=DIM,
                           seed=SEED, epoch=EPOCH, **HISTORY),
    "metrics.csv": table(RUN, covers=(RUN, RUNS), arch=ARCH, latent_dim=DIM, seed=SEED, test_elbo=ELBO,
                         iwae_bound=ELBO.maybe, iwae_k=COUNT.maybe, recon_accuracy=SHARE, knn_accuracy=SHARE,
                         active_units=COUNT, max_kl_dim=NATS, active_rule=TEXT, code=TEXT, run_code=TEXT,
                         bounds_s=SECONDS, recon_accuracy_s=SECONDS, latent_s=SECONDS, iwae_gain=REAL.maybe),
    "params.csv": table(SETTING, covers=(SETTING, SETTINGS), arch=ARCH, latent_dim=DIM, params=COUNT,
                        ratio_to_linear=POSITIVE),
    "weights.csv": table(["run"], run=TEXT, weights_sha256=SHA256),
    "kl_per_dim.csv": table(RUN + ("rank",), covers=(RUN, RUNS), arch=ARCH, latent_dim=DIM, seed=SEED, rank=RANK,
                            kl=NATS),
    "prior_reads.csv": table(RUN + ("sample",), sample=COUNT, **READS, arch=ARCH, latent_dim=DIM, seed=SEED),
    "interpolation_reads.csv": table(RUN + ("pair", "step"), **READS, pair=COUNT, step=COUNT, start_digit=DIGIT,
                                     end_digit=DIGIT, arch=ARCH, latent_dim=DIM, seed=SEED),
    "digit_geometry.csv": table(["arch", "seed", "digit"], TWO_D, (("arch", "seed"), RUNS_2D), digit=DIGIT,
                                n=COUNT, centroid_norm=POSITIVE, spread=POSITIVE, rank_from_edge=RANK, arch=ARCH,
                                seed=SEED),
    "edge_ranks.csv": table(["arch", "seed", "digit"], TWO_D, (("arch", "seed"), RUNS_2D), digit=DIGIT, rank=RANK,
                            rank_low=POSITIVE, rank_high=POSITIVE, arch=ARCH, seed=SEED),
    "latent_confusions.csv": table(PAIR_KEY, TWO_D, (("arch", "seed"), RUNS_2D), **CONFUSIONS),
    "recon_confusions.csv": table(PAIR_KEY, TWO_D, (("arch", "seed"), RUNS_2D), **CONFUSIONS),
    "latent_confusion_intervals.csv": table(PAIR_KEY, TWO_D, (("arch", "seed"), RUNS_2D), **INTERVALS),
    "recon_confusion_intervals.csv": table(PAIR_KEY, TWO_D, (("arch", "seed"), RUNS_2D), **INTERVALS),
    "grid_cells.csv": table(["arch", "seed", "row", "column"], TWO_D, (("arch", "seed"), FIRST_2D), row=COUNT,
                            column=COUNT, z1=REAL, z2=REAL, **READS, arch=ARCH, seed=SEED),
    **{f"{ds}.csv": table(("dataset",) + RUN, APPENDIX(ds), epoch=EPOCH, **HISTORY, eval_seconds=SECONDS,
                          dataset=DATASET, arch=ARCH, latent_dim=DIM, seed=SEED)
       for ds in DATASETS},
    # derived from the base tables (the first ones by the results step from the same runs, before rounding)
    "final_by_seed.csv": table(RUN, covers=(RUN, RUNS), sources=["histories.csv"], arch=ARCH, latent_dim=DIM,
                               seed=SEED, epochs=EPOCH, test_loss=NATS, test_recon=NATS, test_kl=NATS,
                               train_loss=NATS, s_per_epoch=SECONDS),
    "summary.csv": table(SETTING, covers=(SETTING, SETTINGS), sources=["final_by_seed.csv"], arch=ARCH,
                         latent_dim=DIM, seeds=RANK, test_loss_mean=NATS, test_loss_std=SPREAD,
                         test_recon_mean=NATS, test_recon_std=SPREAD, test_kl_mean=NATS, test_kl_std=SPREAD,
                         s_per_epoch_mean=SECONDS, s_per_epoch_std=SPREAD, params=COUNT, ratio_to_linear=POSITIVE,
                         **{f"{m}_{q}": NATS for m in ("test_loss", "test_recon", "test_kl")
                            for q in ("min", "q1", "median", "q3", "max")}),
    "latent_diagnostics.csv": table(SETTING, covers=(SETTING, SETTINGS), sources=["metrics.csv"], arch=ARCH,
                                    latent_dim=DIM, seeds=RANK, active_units_mean=POSITIVE, active_units_std=SPREAD,
                                    knn_accuracy_mean=SHARE, knn_accuracy_std=SPREAD, recon_accuracy_mean=SHARE,
                                    recon_accuracy_std=SPREAD, test_elbo_mean=ELBO, test_elbo_std=SPREAD,
                                    active_units_median=POSITIVE, active_units_min=COUNT, active_units_max=COUNT),
    "metrics_summary.csv": table(SETTING, covers=(SETTING, SETTINGS), sources=["metrics.csv"], arch=ARCH,
                                 latent_dim=DIM, seeds=RANK, test_elbo_mean=ELBO, test_elbo_std=SPREAD,
                                 recon_accuracy_mean=SHARE, recon_accuracy_std=SPREAD, knn_accuracy_mean=SHARE,
                                 knn_accuracy_std=SPREAD, first_seed_elbo=ELBO, iwae_bound=ELBO.maybe,
                                 iwae_gain=REAL.maybe, iwae_k=COUNT.maybe, recon_minus_knn=REAL),
    # derived by vaelib.analysis.results.claim_tables from the saved base tables
    "claims.csv": table(["claim", "arch", "setting"], sources=["final_by_seed.csv"], **CLAIM,
                        shared_verdict=ELSEWHERE, elsewhere_verdict=ELSEWHERE, settled=SETTLED),
    "claims_extras.csv": table(["claim", "arch", "setting"], EXTRA_CLAIMS, sources=["final_by_seed.csv",
                                                                                   "metrics.csv"], **CLAIM),
    "verdicts.csv": table(["claim", "arch"], sources=["final_by_seed.csv"], claim=TEXT, arch=COMPARISON,
                          verdict=TEXT, holm_verdict=TEXT, settings=COUNT, holds=COUNT, refuted=COUNT,
                          equivalent=COUNT, inconclusive=COUNT, behind=TEXT.maybe),
    "seed_batch.csv": table([], sources=["summary.csv"], seed_low=COUNT, seed_high=COUNT, small_d=DIM,
                            large_d=DIM, recon_small_d=NATS, recon_large_d=NATS, batch_for_low=POSITIVE,
                            batch_for_high=POSITIVE, batch=RANK, ours_low=POSITIVE, ours_high=POSITIVE),
    "machines.csv": table(RUN, RERUN, sources=["final_by_seed.csv"], arch=ARCH, latent_dim=DIM, seed=SEED,
                          test_loss=NATS, test_loss_elsewhere=NATS, change=REAL),
    "convergence.csv": table(SETTING, SLOPES, (SETTING, SETTINGS), sources=["histories.csv"], arch=ARCH,
                             latent_dim=DIM, epochs=EPOCH, last_epochs=EPOCH, difference=REAL, ci_low=REAL.maybe,
                             ci_high=REAL.maybe, p=SHARE.maybe, margin=POSITIVE, equivalence_p=SHARE.maybe,
                             verdict=VERDICT, seeds=RANK, gap=REAL, gap_low=REAL.maybe, gap_high=REAL.maybe,
                             gap_verdict=VERDICT),
    "grid_summary.csv": table(["arch", "seed"], TWO_D, sources=["grid_cells.csv"], arch=ARCH, seed=SEED, **SEEN),
    "prior_summary.csv": table(RUN, sources=["prior_reads.csv"], arch=ARCH, latent_dim=DIM, seed=SEED, **SEEN),
    "interpolation_summary.csv": table(RUN + ("pair",), sources=["interpolation_reads.csv"], arch=ARCH,
                                       latent_dim=DIM, seed=SEED, pair=COUNT, start_digit=DIGIT, end_digit=DIGIT,
                                       path=TEXT, third_digits=TEXT, passes_third=FLAG),
    "interpolation_counts.csv": table(RUN, sources=["interpolation_reads.csv"], arch=ARCH, latent_dim=DIM,
                                      seed=SEED, paths=COUNT, through_third=COUNT),
    "claims_edge.csv": table(["claim", "arch", "digit"], TWO_D, sources=["edge_ranks.csv"], **SHARE_CLAIM,
                             digit=DIGIT, supporting_top3=COUNT, supporting_top2=COUNT, supporting_top5=COUNT,
                             verdict_top3=VERDICT, verdict_top2=VERDICT, verdict_top5=VERDICT),
    **{f"claims_{s}_confusion.csv": table(["claim", "arch", "true", "predicted"], TWO_D,
                                          sources=[f"{s}_confusion_intervals.csv"], **SHARE_CLAIM, true=DIGIT,
                                          predicted=DIGIT, percents=TEXT, supporting_top5=COUNT,
                                          supporting_top3=COUNT, supporting_top10=COUNT, verdict_top5=VERDICT,
                                          verdict_top3=VERDICT, verdict_top10=VERDICT)
       for s in ("latent", "recon")},
    **{f"largest_{s}_confusions.csv": table(["arch", "true", "predicted"], TWO_D, sources=[f"{s}_confusions.csv"],
                                            arch=ARCH, true=DIGIT, predicted=DIGIT, percent_mean=PERCENT,
                                            percent_std=SPREAD)
       for s in ("latent", "recon")},
    # python -m vaelib.reference (make reference)
    "reference_by_epoch.csv": table(["epoch"], OPTIONAL, epoch=EPOCH, stage=RANK, stage_epochs=EPOCH,
                                    learning_rate=POSITIVE, stage_minutes=SECONDS, train_minutes=SECONDS,
                                    test_neg_elbo=NATS, test_neg_elbo_curve_images=NATS, nll=NATS, nll_sem=POSITIVE,
                                    k=RANK, test_images=RANK, eval_minutes=SECONDS),
    # python -m vaelib.collapse: predictions.csv is derived from final_by_seed.csv but pre-registered (committed
    # before its runs): never re-derived; collapse_runs.csv is the experiment's runs
    "predictions.csv": table(["run"], OPTIONAL, run=TEXT, role=ROLE, data_seed=SEED, init_seed=SEED, arch=ARCH,
                             latent_dim=DIM, collapse_above=NATS, p_collapse=SHARE, from_seeds=TEXT, pi_low=REAL.maybe,
                             pi_high=REAL.maybe, pi_kept_low=REAL.maybe, pi_kept_high=REAL.maybe,
                             range_low=NATS.maybe, range_high=NATS.maybe, range_coverage=SHARE.maybe,
                             if_init=PREDICTED, if_data=PREDICTED),
    "collapse_runs.csv": table(["run"], OPTIONAL, run=TEXT, role=ROLE, data_seed=SEED, init_seed=SEED, arch=ARCH,
                               latent_dim=DIM, epochs=EPOCH, epoch1_loss=NATS, test_loss=NATS, test_recon=NATS,
                               test_kl=NATS, active_units=COUNT, kl_total=NATS, s_per_epoch=SECONDS,
                               weights_sha256=SHA256, code=TEXT, cpu=TEXT.maybe),
    # derived by claim_tables (analysis.collapse, analysis.coverage): the runs that collapse, and the experiment
    "collapse.csv": table(SETTING, covers=(SETTING, SETTINGS), sources=["final_by_seed.csv"], arch=ARCH,
                          latent_dim=DIM, runs=RANK, collapsed=COUNT, share=SHARE, share_low=SHARE, share_high=SHARE,
                          collapse_above=NATS, collapsed_seeds=TEXT, seeds=TEXT),
    "collapse_signature.csv": table(RUN, sources=["final_by_seed.csv", "metrics.csv", "histories.csv",
                                                  "kl_per_dim.csv"], arch=ARCH, latent_dim=DIM, seed=SEED,
                                    test_loss=NATS, others_loss=NATS, active_units=COUNT, others_units=POSITIVE,
                                    kl_per_unit=NATS.maybe, others_kl_per_unit=NATS.maybe, epoch1_loss=NATS,
                                    others_epoch1_loss=NATS, others=COUNT),
    "unit_slopes.csv": table(["setting"], sources=["final_by_seed.csv", "metrics.csv"], setting=TEXT, runs=RANK,
                             units=TEXT, slope=REAL, slope_low=REAL, slope_high=REAL,
                             r=Col("float", low=-1, high=1, what="a correlation, in [-1, 1]")),
    "coverage.csv": table(["claim", "arch", "setting", "world"], sources=["final_by_seed.csv"], claim=TEXT,
                          arch=COMPARISON, setting=TEXT, metric=TEXT, world=TEXT, seeds=TEXT, mean_difference=REAL,
                          median_difference=REAL, welch_coverage=SHARE, rank_coverage=SHARE, trimmed_difference=REAL,
                          yuen_coverage=SHARE, welch_width=POSITIVE, rank_width=POSITIVE, yuen_width=POSITIVE,
                          replicates=RANK),
    "coverage_summary.csv": table(["world"], sources=["coverage.csv"], world=TEXT, comparisons=COUNT,
                                  welch_min=SHARE, welch_median=SHARE, rank_min=SHARE, rank_median=SHARE,
                                  yuen_min=SHARE, yuen_median=SHARE, mc_se=SHARE),
    "collapse_experiment.csv": table(["run"], OPTIONAL, sources=["predictions.csv", "collapse_runs.csv",
                                                                 "final_by_seed.csv", "weights.csv", "metrics.csv"],
                                     run=TEXT, role=ROLE, data_seed=SEED, init_seed=SEED, arch=ARCH, latent_dim=DIM,
                                     collapse_above=NATS, p_collapse=SHARE, from_seeds=TEXT, pi_low=REAL.maybe,
                                     pi_high=REAL.maybe, pi_kept_low=REAL.maybe, pi_kept_high=REAL.maybe,
                                     range_low=NATS.maybe, range_high=NATS.maybe, range_coverage=SHARE.maybe,
                                     if_init=PREDICTED, if_data=PREDICTED, epoch1_loss=NATS, test_loss=NATS,
                                     test_recon=NATS, test_kl=NATS, active_units=COUNT, kl_total=NATS,
                                     weights_sha256=SHA256, cpu=TEXT.maybe, code=TEXT, collapsed=FLAG,
                                     in_pi=SHARE.maybe, in_pi_kept=SHARE.maybe, in_range=SHARE.maybe,
                                     report_loss=NATS.maybe, kl_per_unit=NATS.maybe, same_weights=SHARE.maybe,
                                     report_code=TEXT.maybe),
    "collapse_factors.csv": table(["pair", "init_seed", "data_seed"], OPTIONAL, sources=["collapse_experiment.csv"],
                                  pair=TEXT, init_seed=SEED, data_seed=SEED, test_loss=NATS, active_units=COUNT,
                                  collapsed=FLAG, carried_by=TEXT),
    "collapse_effects.csv": table(["outcome", "factor"], OPTIONAL, sources=["collapse_factors.csv"], outcome=TEXT,
                                  factor=TEXT, effect=REAL, low=REAL, high=REAL, shown=FLAG, runs=RANK),
    # python -m vaelib.retrain: one run of each training-code version, trained again by today's code
    "code_versions.csv": table(["run_code"], OPTIONAL, run_code=TEXT, arch=ARCH, latent_dim=DIM, seed=SEED, runs=RANK,
                               run=TEXT, loss_here=NATS, weights_here=SHA256, code_here=TEXT, cpu_here=TEXT,
                               isa_here=TEXT.maybe, weights_report=SHA256, loss_report=NATS, same_weights=FLAG),
}


# ---- the records (json) ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """A json record: the keys a reader relies on (dotted for nested ones; others may be there too)."""

    keys: dict
    needed: Callable = ALWAYS
    sources: tuple = ()
    rules: tuple = ()                 # (words, record -> bool): what must hold between its keys


RECORDS: dict[str, Record] = {
    "run.json": Record({
        "command": TEXT, "sweep": RECORD, "sweep.archs": list_of(ARCH), "sweep.dims": list_of(DIM),
        "sweep.seeds": list_of(SEED), "sweep.epochs": EPOCH, "sweep.datasets": list_of(DATASET),
        "sweep.iwae_k": COUNT, "sweep.extras": list_of(Col("str", allowed=tuple(EXTRAS)), na=True),
        "images.train": RANK, "images.test": RANK, "training.batch_size": RANK, "training.lr": POSITIVE,
        "jobs": RANK, "cores": RANK, "cpu": TEXT, "torch": list_of(TEXT), "devices": list_of(TEXT),
        "threads_per_job": Col("any"), "wall_minutes": SECONDS, "peak_memory_mb": POSITIVE,
        "machine_cpu_use": POSITIVE, "training_minutes_in_histories": SECONDS,
        "evaluation_minutes_in_metrics": SECONDS, "runs_code": list_of(TEXT), "runs_commits": list_of(TEXT),
        "minutes": RECORD, "engine": TEXT.maybe, "evaluation_devices": list_of(TEXT, na=True),
        "all_cores_busy_share": SHARE.maybe, "estimate": RECORD.maybe}),
    "classifier.json": Record({"train_images": RANK, "test_images": RANK, "test_accuracy": SHARE}),
    "inference.json": Record({
        "level": SHARE, "family": COUNT, "margins": RECORD, "margins.test_loss": POSITIVE, "margins.slope": POSITIVE,
        "families": RECORD, "max_seeds": RANK, "seeds_for_a_share_verdict": RANK, "bootstrap_resamples": RANK,
        "confident": SHARE, "power": SHARE, "trim": SHARE}, sources=("claims.csv",)),
    "collapse_new_seeds.json": Record({
        "new_runs": COUNT, "planned": COUNT, "collapsed": COUNT, "predicted_mode": COUNT, "predicted_low": COUNT,
        "predicted_high": COUNT, "in_count_interval": Col("bool", na=True, what="True, False or empty"),
        "in_pi": COUNT, "in_pi_kept": COUNT, "in_range": COUNT, "in_pi_kept_of_kept": COUNT, "kept": COUNT,
        "range_coverage": SHARE, "all_collapsed": COUNT, "all_runs": RANK, "all_share": SHARE, "all_low": SHARE,
        "all_high": SHARE, "rule": TEXT, "all_threshold": NATS, "all_collapsed_by_all": COUNT}, OPTIONAL, sources=("predictions.csv", "collapse_runs.csv")),
    "rerun.json": Record({
        "used": FLAG, "why": TEXT.maybe, "cpu": TEXT.maybe, "runs_in_both": COUNT.maybe,
        "seeds_in_both": list_of(SEED, na=True)}, sources=("final_by_seed.csv",), rules=(
        ("used: cpu, runs_in_both and seeds_in_both are set", lambda r: not r["used"] or all(
            r.get(k) is not None for k in ("cpu", "runs_in_both", "seeds_in_both"))),
        ("not used: why says why", lambda r: r["used"] or bool(r.get("why"))))),
    "reference.json": Record({
        "paper.source": TEXT, "paper.vae_nll": POSITIVE, "paper.iwae_k50_nll": POSITIVE, "paper.epochs": EPOCH,
        "paper.active_units": COUNT.maybe, "ours.nll": NATS, "ours.nll_sem": POSITIVE, "ours.k": RANK,
        "ours.epochs": EPOCH, "ours.seed": SEED, "ours.test_images": RANK, "ours.latent_dim": DIM,
        "ours.batch_size": RANK, "ours.train_minutes": SECONDS, "ours.final_eval_minutes": SECONDS,
        "ours.curve_eval_minutes": SECONDS, "gap_nats": REAL, "epochs_share_of_paper": POSITIVE,
        "engine": TEXT, "binarization_seeds.test": SEED}, OPTIONAL),
}


def declared(name: str) -> Table | Record | None:
    return TABLES.get(name) or RECORDS.get(name)


def undeclared(where) -> BadTable:
    return BadTable(f"{where} is not a table {HERE} declares: declare it there (its columns, key and when a "
                    f"report holds it, TABLES or RECORDS), or move it out of results/")


# ---- checking one value, one column, one table ----------------------------------------------------------

def _num(x) -> str:
    return f"{x:g}" if isinstance(x, (float, np.floating)) else str(x)


def _fault(col: Col, value) -> str | None:
    """What is wrong with one non-empty value of `col`, in words (None: nothing)."""
    if col.kind in ("int", "float"):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            return f"{value!r} is not a number"
        if not np.isfinite(value):
            return f"{value} is not a finite number"
        if col.kind == "int" and float(value) != int(value):
            return f"{value} is not an integer"
        if col.low is not None and value < col.low:
            return f"{_num(value)} is below {_num(col.low)}"
        if col.high is not None and value > col.high:
            return f"{_num(value)} is above {_num(col.high)}"
    elif col.kind == "bool" and not isinstance(value, (bool, np.bool_)):
        return f"{value!r} is not True or False"
    elif col.kind == "str" and not isinstance(value, str):
        return f"{value!r} is not text"
    elif col.kind == "list":
        if not isinstance(value, list):
            return f"{value!r} is not a list"
        for item in value:
            if item is None or (found := _fault(col.of, item)):
                return f"item {item!r}: {found or 'is empty'}"
    elif col.kind == "dict" and not isinstance(value, dict):
        return f"{value!r} is not a record"
    if col.allowed is not None and value not in col.allowed:
        return f"{value!r} is not one of {', '.join(map(str, col.allowed))}"
    if col.pattern is not None and not re.fullmatch(col.pattern, str(value)):
        return f"{value!r} is not {col.what or col.pattern}"
    return None


def _first_fault(col: Col, values: pd.Series) -> tuple[int, str] | None:
    """The first row of a column that breaks `col` (its position) and what is wrong, or None."""
    empty = values.isna().to_numpy()
    if empty.any() and not col.na:
        return int(np.argmax(empty)), "is empty"
    rows = np.flatnonzero(~empty)
    kept = values.iloc[rows]
    if col.kind in ("int", "float") and kept.dtype.kind not in "iufb":   # text where a number belongs
        numbers = pd.to_numeric(kept, errors="coerce")
        if numbers.isna().any():
            i = rows[int(np.argmax(numbers.isna().to_numpy()))]
            return int(i), f"{values.iloc[i]!r} is not a number"
        kept = numbers
    if col.kind in ("int", "float") and kept.dtype.kind in "iuf":       # the common case, whole columns at once
        x = kept.to_numpy(dtype=float)
        bad = ~np.isfinite(x)
        if col.kind == "int":
            bad |= np.where(np.isfinite(x), x != np.round(x), False)
        if col.low is not None:
            bad |= x < col.low
        if col.high is not None:
            bad |= x > col.high
        if col.allowed is None and not bad.any():
            return None
        candidates = rows[bad] if col.allowed is None else rows
    elif col.kind == "bool" and kept.dtype == bool:
        return None
    elif col.kind == "str":
        bad = ~kept.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        if col.allowed is not None:
            bad |= ~kept.isin(col.allowed).to_numpy()
        if col.pattern is not None:
            bad |= ~kept.astype(str).str.fullmatch(col.pattern).to_numpy(dtype=bool)
        if not bad.any():
            return None
        candidates = rows[bad]
    else:
        candidates = rows
    for i in candidates:
        value = kept.iloc[int(np.searchsorted(rows, i))]
        found = _fault(col, value.item() if hasattr(value, "item") else value)
        if found:
            return int(i), found
    return None


def _what(col: Col, words: str) -> str:
    """What the column holds, after a value out of its range."""
    return f" ({col.what})" if col.what and (" is below " in words or " is above " in words) else ""


def _some(names: list, n: int = 4) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _key_text(frame: pd.DataFrame, key: tuple, i: int) -> str:
    shown = [k for k in key if k in frame.columns]
    return f" ({', '.join(f'{k}={frame[k].iloc[i]}' for k in shown)})" if shown else ""


def _line(i: int) -> int:
    """The file's line of a table's row i (line 1 is the header)."""
    return i + 2


def check_frame(name: str, frame: pd.DataFrame, where, then: str = WAY_BACK) -> pd.DataFrame:
    """`frame`, read from the results file `name` (at `where`), against its declaration; BadTable on the first
    fault, in words that end with `then`."""
    spec = TABLES.get(name)
    if spec is None:
        raise undeclared(where)
    missing = [c for c in spec.columns if c not in frame.columns]
    extra = [c for c in frame.columns if c not in spec.columns]
    if missing:
        also = f" (it has {_some(extra)}, which {HERE} does not declare)" if extra else ""
        raise BadTable(f"{where} has no column {_some(missing)}{also}. {then}")
    if extra:
        raise BadTable(f"{where} has a column {HERE} does not declare for it: {', '.join(extra)}; declare it there "
                       f"(one `name=KIND,` in TABLES['{name}']) or leave it out")
    for column, col in spec.columns.items():
        found = _first_fault(col, frame[column])
        if found:
            i, words = found
            raise BadTable(f"{where}, line {_line(i)}{_key_text(frame, spec.key, i)}, column {column}: {words}"
                           f"{_what(col, words)}. {then}")
    if not spec.key:
        if len(frame) != 1:
            where = f"{where}, line {_line(1)}" if len(frame) else where
            raise BadTable(f"{where}: {len(frame) or 'no'} row{'s' * (len(frame) != 1)} where one belongs. {then}")
        return frame
    twice = frame.duplicated(list(spec.key), keep=False).to_numpy()
    if twice.any():
        rows = np.flatnonzero(twice)
        keys = list(frame.iloc[rows][list(spec.key)].itertuples(index=False, name=None))
        first = rows[0]
        again = next(r for r, k in zip(rows[1:], keys[1:]) if k == keys[0])
        raise BadTable(f"{where}, line {_line(again)} repeats the key of line {_line(first)}"
                       f"{_key_text(frame, spec.key, first)}: one row per {', '.join(spec.key)}. {then}")
    return frame


def read_text(name: str, text: str, where, then: str = WAY_BACK) -> pd.DataFrame:
    """A results table from its text, checked: the one way results/ tables are read."""
    spec = TABLES.get(name)
    if spec is None:
        raise undeclared(where)
    if not text.strip():
        raise BadTable(f"{where} is empty. {then}")
    if not text.endswith("\n"):
        raise BadTable(f"{where} is truncated: its last line (line {text.count(chr(10)) + 1}) ends without a "
                       f"newline. {then}")
    text_columns = {c: str for c, col in spec.columns.items() if col.kind == "str"}
    try:
        header = next(csv.reader([text.split("\n", 1)[0]]))
        frame = pd.read_csv(io.StringIO(text), dtype={c: t for c, t in text_columns.items() if c in header})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        raise BadTable(f"{where} does not read as a table ({str(e).strip().splitlines()[-1]}). {then}") from e
    return check_frame(name, frame, where, then)


def read_table(path: Path | str, then: str = WAY_BACK) -> pd.DataFrame:
    path = Path(path)
    if path.name not in TABLES:
        raise undeclared(path)
    try:
        text = path.read_bytes().decode()
    except FileNotFoundError:
        raise BadTable(f"{path} is missing. {then}") from None
    except UnicodeDecodeError as e:
        raise BadTable(f"{path} is not text (byte {e.start} is not UTF-8). {then}") from e
    return read_text(path.name, text, path, then)


def check_record(name: str, record, where, then: str = WAY_BACK) -> dict:
    spec = RECORDS.get(name)
    if spec is None:
        raise undeclared(where)
    if not isinstance(record, dict):
        raise BadTable(f"{where} is not a json record (an object). {then}")
    for dotted, col in spec.keys.items():
        value, parts = record, dotted.split(".")
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            if col.na:
                continue
            raise BadTable(f"{where} has no key {dotted}. {then}")
        found = _fault(col, value)
        if found:
            raise BadTable(f"{where}, key {dotted}: {found}{_what(col, found)}. {then}")
    for words, holds in spec.rules:
        if not holds(record):
            raise BadTable(f"{where}: not so that {words}. {then}")
    return record


def read_record(path: Path | str, then: str = WAY_BACK) -> dict:
    path = Path(path)
    if path.name not in RECORDS:
        raise undeclared(path)
    try:
        record = json.loads(path.read_bytes().decode())
    except FileNotFoundError:
        raise BadTable(f"{path} is missing. {then}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadTable(f"{path} does not read as json, truncated or damaged ({e}). {then}") from e
    return check_record(path.name, record, path, then)


def read(path: Path | str, then: str = WAY_BACK):
    """One file of results/, checked: a DataFrame for a table (.csv), a dict for a record (.json)."""
    return read_record(path, then) if Path(path).suffix == ".json" else read_table(path, then)


# ---- a whole results/ folder ----------------------------------------------------------------------------

def report_of(results: Path, found: dict) -> Report:
    """What decides which tables this report holds, from its run.json, final_by_seed.csv and rerun.json."""
    try:
        sweep = Sweep.from_params(found["run"]["sweep"])
    except (ValueError, TypeError) as e:
        raise BadTable(f"{results / 'run.json'}, key sweep: not a sweep vaelib knows ({e}). {WAY_BACK}") from e
    final = found.get("final_by_seed")
    trained = set(zip(final["arch"], final["latent_dim"].astype(int))) if final is not None else set()
    return Report(sweep, trained, bool(found.get("rerun", {}).get("used", False)))


def _covers(name: str, frame: pd.DataFrame, sweep: Sweep, where) -> None:
    spec = TABLES[name]
    if not spec.covers:
        return
    columns, expected = spec.covers
    have = set(frame[list(columns)].itertuples(index=False, name=None))
    lacking = [k for k in expected(sweep) if k not in have]
    if lacking:
        first = ", ".join(f"{c}={v}" for c, v in zip(columns, lacking[0]))
        more = f" and {len(lacking) - 1} more" if len(lacking) > 1 else ""
        raise BadTable(f"{where} has no row for {first}{more} of the sweep in run.json (truncated?). {WAY_BACK}")


def read_folder(results_dir: Path | str) -> dict:
    """Every table (csv -> DataFrame) and record (json -> dict) of a report's results/, by file stem, each
    checked against its declaration, with the tables the report must hold (its sweep in run.json says) and
    the sweep's runs they must cover; BadTable on the first fault."""
    results = Path(results_dir)
    files = sorted(p for p in results.iterdir() if p.suffix in (".csv", ".json") and not p.name.startswith("."))
    for path in files:
        if declared(path.name) is None:
            raise undeclared(path)
    found = {}
    first = [results / "run.json", results / "final_by_seed.csv", results / "rerun.json"]   # they decide the rest
    for path in first:
        if path.is_file() or path.name == "run.json":
            found[path.stem] = read(path)
    report = report_of(results, found)
    present = {p.name for p in files}
    for name, spec in {**TABLES, **RECORDS}.items():
        if spec.needed(report) and name not in present:
            raise BadTable(f"{results / name} is missing. {WAY_BACK}")
    if ("reference.json" in present) != ("reference_by_epoch.csv" in present):
        lacking = "reference_by_epoch.csv" if "reference.json" in present else "reference.json"
        raise BadTable(f"{results / lacking} is missing (the reference's other file is there). {WAY_BACK}")
    for path in files:
        if path.stem not in found:
            found[path.stem] = read(path)
    for name in TABLES:
        if Path(name).stem in found:
            _covers(name, found[Path(name).stem], report.sweep, results / name)
    return found
