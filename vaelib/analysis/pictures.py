"""What the write-up says of its pictures, computed from what the digit classifier reads in them
(evaluation.reading): how many cells of a latent grid and how many prior samples read as a digit, which
classes appear and which are missing, which digits an interpolation passes through."""

from __future__ import annotations

import pandas as pd

DIGITS = tuple(range(10))


def _classes(reads: pd.DataFrame) -> tuple[str, str]:
    seen = sorted(set(reads.loc[reads["confident"].astype(bool), "digit"].astype(int)))
    return " ".join(map(str, seen)) or "none", " ".join(str(d) for d in DIGITS if d not in seen) or "none"


def read_summary(reads: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group: images, how many read as a digit (confidently), the share, the classes seen and missing."""
    rows = []
    for key, g in reads.groupby(by, sort=False):
        seen, missing = _classes(g)
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), "images": len(g),
                     "digits": int(g["confident"].sum()), "unclear": int((~g["confident"].astype(bool)).sum()),
                     "share_digits": g["confident"].mean(), "classes": seen, "missing": missing})
    return pd.DataFrame(rows)


def path_of(steps: pd.DataFrame) -> str:
    """The digits along one interpolation, runs collapsed, "?" for an unclear step: "7 -> ? -> 9"."""
    marks = [str(int(d)) if c else "?" for d, c in zip(steps["digit"], steps["confident"].astype(bool))]
    path = [m for i, m in enumerate(marks) if i == 0 or m != marks[i - 1]]
    return " -> ".join(path)


def interpolation_summary(reads: pd.DataFrame) -> pd.DataFrame:
    """Per (arch, d, pair): the true digits at its ends, the path read along it, and whether it passes
    through a third digit (a confident reading of neither end's digit)."""
    rows = []
    for (arch, d, seed, pair), g in reads.sort_values(["pair", "step"]).groupby(["arch", "latent_dim", "seed", "pair"],
                                                                                 sort=False):
        ends = {int(g["start_digit"].iloc[0]), int(g["end_digit"].iloc[0])}
        third = sorted(set(g.loc[g["confident"].astype(bool), "digit"].astype(int)) - ends)
        rows.append({"arch": arch, "latent_dim": d, "seed": seed, "pair": pair,
                     "start_digit": int(g["start_digit"].iloc[0]), "end_digit": int(g["end_digit"].iloc[0]),
                     "path": path_of(g), "third_digits": " ".join(map(str, third)) or "none",
                     "passes_third": bool(third)})
    return pd.DataFrame(rows)


def interpolation_counts(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (arch, d): how many of the paths pass through a third digit."""
    return (summary.groupby(["arch", "latent_dim", "seed"], sort=False)
            .agg(paths=("pair", "size"), through_third=("passes_third", "sum")).reset_index())
