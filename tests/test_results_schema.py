"""results/ is a checked interface (vaelib.analysis.schema): every table in it is declared, and a damaged one
is refused in one line, never rendered.

Each file of the committed results/ in turn, in a copy, is truncated, deleted, given a repeated row, a value out
of its declared range and a renamed column; the write-up (`python -m vaelib.writeup`) and the site (`python -m
vaelib.site`, building and `--check`) each end in one line, exit code 1, naming the file, and write nothing:
the previous REPORT.md and site/ stay byte for byte. A hand edit of final_by_seed.csv (a plausible value) fails
`writeup --check`, the first step of `make test`, naming it. Tables are checked when written too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from vaelib.analysis import schema, tables, writeup
from vaelib.analysis.results import derived_problem
from vaelib.config.sweep import Sweep
from vaelib.infra.paths import PROJECT
from vaelib.site import build

RESULTS = PROJECT / "results"
FILES = sorted(p.name for p in RESULTS.iterdir() if p.suffix in (".csv", ".json"))
DAMAGES = ("truncate", "delete", "repeat a row", "out of range", "rename a column")


def sweep_of(results: Path) -> Sweep:
    return Sweep.from_params(json.loads((results / "run.json").read_text())["sweep"])


def beyond(col: schema.Col):
    """A value `col` refuses (None when its declaration bounds nothing)."""
    if col.low is not None:
        return col.low - 1
    if col.high is not None:
        return col.high + 1
    if col.allowed is not None or col.pattern is not None:
        return "nonesuch"
    if col.kind == "bool":
        return "maybe"
    if col.kind == "list" and col.of is not None and beyond(col.of) is not None:
        return [beyond(col.of)]
    return None


def damage(path: Path, how: str) -> str | None:
    """Damage one file of results/ as `how` says; the column or key it touched, if one."""
    text = path.read_text()
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        cut = text[:len(text) // 2]
        path.write_text(cut[:-1] if cut.endswith("\n") else cut)
    elif path.suffix == ".json":
        record = json.loads(text)
        if how == "out of range":
            key, col = next((k, c) for k, c in schema.RECORDS[path.name].keys.items()
                            if not c.na and beyond(c) is not None)
            *parents, last = key.split(".")
            inner = record
            for part in parents:
                inner = inner[part]
            inner[last] = beyond(col)
        else:                                  # a renamed key (repeating a row means nothing for a record)
            key = next(iter(schema.RECORDS[path.name].keys)).split(".")[0]
            record[key + "_renamed"] = record.pop(key)
        path.write_text(json.dumps(record, indent=1) + "\n")
        return key
    elif how == "repeat a row":
        lines = text.splitlines(keepends=True)
        path.write_text("".join(lines + [lines[1]]))
    else:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        if how == "out of range":
            key, col = next((k, c) for k, c in schema.TABLES[path.name].columns.items() if beyond(c) is not None)
            table.loc[0, key] = str(beyond(col))
        else:
            key = table.columns[0]
            table = table.rename(columns={key: key + "_renamed"})
        table.to_csv(path, index=False)
        return key
    return None


def digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def site_copy(tmp_path_factory):
    """The committed site/, in a folder of its own (every case checks it is left as it was)."""
    out = tmp_path_factory.mktemp("site") / "site"
    shutil.copytree(PROJECT / "site", out)
    return out, digest(out)


def optional_alone(name: str) -> bool:
    """A file a report may lack (the collapse experiment's; the reference's go in pairs)."""
    spec = schema.declared(name)
    return spec.needed is schema.OPTIONAL and name not in ("reference.json", "reference_by_epoch.csv")


CASES = [(name, how) for name in FILES for how in DAMAGES
         if not (how == "repeat a row" and name.endswith(".json"))]


@pytest.mark.parametrize("name, how", CASES, ids=[f"{n}: {h}" for n, h in CASES])
def test_a_damaged_table_stops_the_write_up_and_the_site_in_one_line(tmp_path, site_copy, capsys, name, how):
    results = Path(shutil.copytree(RESULTS, tmp_path / "results"))
    report = tmp_path / "REPORT.md"
    shutil.copy(PROJECT / "REPORT.md", report)
    site, site_digest = site_copy
    touched = damage(results / name, how)
    if how == "delete" and optional_alone(name):
        assert name not in schema.read_folder(results).keys()      # a report without that experiment
        return
    commands = {
        "writeup": (writeup.main, ["--results", str(results), "--out", str(report)]),
        "site": (build.main, ["--results", str(results), "--report", str(report), "--out", str(site),
                              "--runs-dir", str(tmp_path / "no-runs")]),
        "site --check": (build.main, ["--check", "--results", str(results), "--report", str(report),
                                      "--out", str(site)]),
    }
    for command, (main, argv) in commands.items():
        code = main(argv)
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1 and lines[0].startswith("error: "), (command, code, err)
        line = lines[0]
        assert name in line and "`git checkout results/` restores the committed one" in line, (command, line)
        if how in ("out of range", "repeat a row") and name.endswith(".csv"):
            assert "line " in line, (command, line)
        if how == "out of range":
            assert touched in line, (command, line)
        assert out == "", (command, out)
    assert report.read_bytes() == (PROJECT / "REPORT.md").read_bytes()
    assert digest(site) == site_digest


def test_every_file_of_results_is_declared_and_the_committed_ones_pass():
    found = schema.read_folder(RESULTS)
    assert set(found) == {Path(n).stem for n in FILES}
    for name in FILES:
        spec = schema.declared(name)
        assert spec is not None, name
        assert all(schema.declared(s) is not None for s in spec.sources), (name, spec.sources)


def test_an_undeclared_table_is_refused_and_says_how_to_declare_it(tmp_path, capsys):
    results = Path(shutil.copytree(RESULTS, tmp_path / "results"))
    (results / "scratch.csv").write_text("arch,value\nconv,1\n")
    assert writeup.main(["--results", str(results), "--out", str(tmp_path / "REPORT.md")]) == 1
    err = capsys.readouterr().err
    assert "scratch.csv is not a table vaelib/analysis/schema.py declares: declare it there" in err
    assert not (tmp_path / "REPORT.md").exists()


def test_no_section_falls_back_when_a_column_is_missing(tmp_path):
    """The active-unit paragraph once switched to the literature's rule when metrics.csv lost active_rule."""
    results = Path(shutil.copytree(RESULTS, tmp_path / "results"))
    metrics = pd.read_csv(results / "metrics.csv").drop(columns="active_rule")
    metrics.to_csv(results / "metrics.csv", index=False)
    with pytest.raises(schema.BadTable, match="metrics.csv has no column active_rule"):
        writeup.render(results)


def test_a_table_is_checked_when_written_and_a_refused_one_replaces_nothing(tmp_path):
    path = tmp_path / "results" / "final_by_seed.csv"
    final = tables.read(RESULTS / "final_by_seed.csv")
    tables.save(final, path)
    assert path.read_bytes() == (RESULTS / "final_by_seed.csv").read_bytes()     # the same bytes as before
    bad = final.assign(test_kl=final["test_kl"] - 100)
    with pytest.raises(schema.BadTable, match=r"final_by_seed.csv \(as it would be written\), line 2 .*column "
                                              r"test_kl: -\d.* is below 0"):
        tables.save(bad, path)
    with pytest.raises(schema.BadTable, match="does not declare for it: note; declare it there"):
        tables.save(final.assign(note="x"), path)
    assert path.read_bytes() == (RESULTS / "final_by_seed.csv").read_bytes()
    with pytest.raises(schema.BadTable, match="classifier.json .*key test_accuracy: 2 is above 1"):
        tables.save_record({"train_images": 10, "test_images": 10, "test_accuracy": 2}, path.parent / "classifier.json")
    assert not (path.parent / "classifier.json").exists()


def test_the_committed_derived_tables_are_what_their_sources_give():
    assert derived_problem(RESULTS, sweep_of(RESULTS)) is None


def test_a_hand_edit_of_final_by_seed_fails_the_check_and_names_it(tmp_path, capsys):
    """A plausible value (3 nats more), which the schema cannot refuse: `writeup --check`, the first step of
    `make test`, re-derives final_by_seed.csv from histories.csv and the claims from it."""
    results = Path(shutil.copytree(RESULTS, tmp_path / "results"))
    shutil.copy(PROJECT / "REPORT.md", tmp_path / "REPORT.md")
    final = pd.read_csv(results / "final_by_seed.csv")
    final.loc[4, "test_loss"] += 3
    final.to_csv(results / "final_by_seed.csv", index=False)
    assert writeup.main(["--check", "--results", str(results), "--out", str(tmp_path / "REPORT.md")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {results / 'final_by_seed.csv'} is not what vaelib derives from "
                               f"histories.csv today: line 6 (arch=linear, latent_dim=2, seed=4), column test_loss:")
    assert "claims.csv" in lines[0] and "`make report` re-derives them" in lines[0]


def test_the_commands_end_in_one_line_with_exit_code_1_and_no_traceback(tmp_path):
    results = Path(shutil.copytree(RESULTS, tmp_path / "results"))
    shutil.copy(PROJECT / "REPORT.md", tmp_path / "REPORT.md")
    final = pd.read_csv(results / "final_by_seed.csv")
    final.loc[3, "test_loss"] = -5                      # the example: a negative loss
    final.to_csv(results / "final_by_seed.csv", index=False)
    for args in (["vaelib.writeup", "--out", str(tmp_path / "REPORT.md")],
                 ["vaelib.site", "--report", str(tmp_path / "REPORT.md"), "--out", str(tmp_path / "site")]):
        done = subprocess.run([sys.executable, "-m", *args, "--results", str(results)], capture_output=True,
                              text=True, cwd=PROJECT)
        assert done.returncode == 1 and done.stdout == "", (args, done)
        assert done.stderr.splitlines() == [
            f"error: {results / 'final_by_seed.csv'}, line 5 (arch=linear, latent_dim=2, seed=3), column test_loss: "
            f"-5 is below 0 (a loss or KL in nats, never negative). `make report` re-derives it; `git checkout "
            f"results/` restores the committed one"], args
    assert (tmp_path / "REPORT.md").read_bytes() == (PROJECT / "REPORT.md").read_bytes()
    assert not (tmp_path / "site").exists()


def test_the_page_alone_follows_a_new_write_up_and_keeps_the_decoders(tmp_path):
    """`python -m vaelib.site --page-only`: index.html again from an edited REPORT.md, models.js untouched, and
    the site check passes on the result; with a models.js whose weights results/ does not record, refused in
    one line and nothing written."""
    site = shutil.copytree(PROJECT / "site", tmp_path / "site")
    report = tmp_path / "REPORT.md"
    report.write_text((PROJECT / "REPORT.md").read_text() + "\nOne more line.\n")
    script = (site / "models.js").read_bytes()
    args = ["--report", str(report), "--results", str(PROJECT / "results"), "--out", str(site)]
    assert build.main(args + ["--page-only"]) == 0
    assert "One more line." in (site / "index.html").read_text() and (site / "models.js").read_bytes() == script
    assert build.main(args + ["--check"]) == 0
    results = shutil.copytree(PROJECT / "results", tmp_path / "results")
    weights = pd.read_csv(results / "weights.csv")
    weights["weights_sha256"] = "0" * 64
    weights.to_csv(results / "weights.csv", index=False)
    page = (site / "index.html").read_bytes()
    assert build.main(["--report", str(report), "--results", str(results), "--out", str(site), "--page-only"]) != 0
    assert (site / "index.html").read_bytes() == page
