"""REPORT.md, rendered from results/ by a Jinja template: no number in the write-up is typed by hand.

    python -m vaelib.writeup                 # results/ -> REPORT.md
    python -m vaelib.writeup --check         # exit 1 when REPORT.md, or a table derived from others in
                                             # results/, differs from what results/ gives

The template (vaelib/analysis/templates/REPORT.md.j2, one include per section beside it) holds the prose that
explains the method and lays the tables out; every number, table and data-dependent statement (which digit sits
where, which confusion is largest, whether a claim holds, and the words of each verdict: analysis.claims.PHRASES)
comes from the files in results/, which the notebooks and the runner write.

Every file of results/ is checked against its declaration (vaelib.analysis.schema) before anything is
rendered: a missing, truncated, duplicated or out-of-range table stops the command in one line (exit code 1)
naming the file, the line and the column, and REPORT.md stays as it was. `--check` also re-derives the
tables computed from others in results/ and compares them with the saved ones
(vaelib.analysis.results.derived_problem): a hand edit of a base table names it.
"""

from __future__ import annotations

import argparse
import difflib
import math
import sys
from pathlib import Path

import jinja2
import pandas as pd

from ..infra import paths
from ..config.sweep import seed_runs
from ..core.models import MATCHED_CHANNELS
from . import claims, inference, schema
from ..infra.atomic import atomic_write_text
from ..infra.faults import EXIT_CODES, Refused, guard

TEMPLATE = Path(__file__).resolve().parent / "templates" / "REPORT.md.j2"


def load_results(results_dir: Path | str) -> dict:
    """Every table (csv -> DataFrame) and record (json -> dict) in results/, by file stem, each checked against
    its declaration (schema.read_folder: schema.BadTable on the first fault)."""
    return schema.read_folder(results_dir)


def num(x, digits: int = 2) -> str:
    """A number as the write-up prints it (thousands separated)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:,.{digits}f}"


def pm(mean, std, digits: int = 2) -> str:
    """mean ± std (just the mean when there is one seed)."""
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return num(mean, digits)
    return f"{num(mean, digits)} ± {num(std, digits)}"


def ci(low, high, digits: int = 2) -> str:
    """A 95% interval as the write-up prints it: [low, high], or "(no interval: too few seeds)" where there is
    none."""
    if any(x is None or (isinstance(x, float) and math.isnan(x)) for x in (low, high)):
        return "(no interval: too few seeds)"
    return f"[{num(low, digits)}, {num(high, digits)}]"


def seeds_word(n) -> str:
    """The seeds a resolving interval would need: a count, or "> 1,000" when none up to the search limit."""
    return "> 1,000" if n is None or (isinstance(n, float) and math.isnan(n)) else f"{int(n):,}"


def pct(x, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def rows(table: pd.DataFrame, **where) -> list[dict]:
    """The rows of `table` whose columns equal the given values."""
    mask = pd.Series(True, index=table.index)
    for column, value in where.items():
        mask &= table[column] == value
    return table[mask].to_dict("records")


def among(table: pd.DataFrame, **where) -> pd.DataFrame:
    """The rows of `table` whose columns take one of the given values (lists)."""
    mask = pd.Series(True, index=table.index)
    for column, values in where.items():
        mask &= table[column].isin(list(values))
    return table[mask]


def row(table: pd.DataFrame, **where) -> dict:
    found = rows(table, **where)
    if len(found) != 1:
        raise KeyError(f"expected one row for {where}, found {len(found)}")
    return found[0]


def join(items, last: str = "and") -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(num=num, pct=pct, join=join, int=lambda x: f"{int(x):,}", seeds_word=seeds_word,
                       seed_runs=seed_runs)
    env.globals.update(pm=pm, ci=ci, rows=rows, row=row, among=among, rule=inference.RULE, seed_endpoints=claims.SEED_ENDPOINTS,
                       matched_channels=MATCHED_CHANNELS)
    return env


def render(results_dir: Path | str) -> str:
    return render_results(load_results(results_dir))


def render_results(found: dict) -> str:
    return environment().get_template(TEMPLATE.name).render(r=found)


def render_to(results_dir: Path | str, out: Path | str) -> Path:
    out = Path(out)
    atomic_write_text(out, render(results_dir))
    return out


@guard
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.writeup", description=__doc__, epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default=str(paths.PROJECT / "results"))
    parser.add_argument("--out", default=str(paths.PROJECT / "REPORT.md"))
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it, after "
                        "comparing the tables derived from others in --results with what those give")
    args = parser.parse_args(argv)
    results = Path(args.results)
    if not results.is_dir() or not any(p.suffix in (".csv", ".json") for p in results.iterdir()):
        raise Refused(f"{args.results} holds no report's results (no table); `make report` makes them, "
                      f"or name another folder with --results")
    found = load_results(results)                 # checked: schema.BadTable, one line, before anything is written
    if args.check:
        from .results import derived_problem
        problem = derived_problem(results, schema.report_of(results, found).sweep)
        if problem:
            raise schema.BadTable(problem)
    text = render_results(found)
    if not args.check:
        atomic_write_text(Path(args.out), text)
        print(f"{args.out} rendered from {args.results}")
        return 0
    current = Path(args.out).read_text() if Path(args.out).is_file() else ""
    if current == text:
        print(f"{args.out} is up to date with {args.results}")
        return 0
    diff = difflib.unified_diff(current.splitlines(), text.splitlines(), args.out, "rendered", lineterm="", n=1)
    print(f"{args.out} differs from what {args.results} gives (run `python -m vaelib.writeup`):")
    print("\n".join(list(diff)[:60]))
    return 1


if __name__ == "__main__":
    sys.exit(main())
