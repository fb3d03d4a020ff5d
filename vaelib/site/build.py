"""The report as a static page that opens from a clone with a double click: site/index.html and site/models.js.

    python -m vaelib.site            # export the runs' decoders (site/models.js), then render site/index.html
    python -m vaelib.site --check    # is site/ what REPORT.md and results/ give? (no runs needed)

index.html is REPORT.md rendered by markdown-it (CommonMark and tables), its figures linked from the project's
figures/, with the latent-space explorers (explorer.js, inlined) placed in the sections they belong to, and a
last section saying what the page carries. Everything it loads is a file beside it or a data: URL, so it
works from file:// with no server and no network. models.js is written from runs/ (not in git); the check
needs neither: it renders the page again from REPORT.md and models.js's manifest, and compares each
exported run's weights hash with the one results/weights.csv records. Both first check every file of results/
against its declaration (vaelib.analysis.schema): a damaged table stops them in one line, nothing written.
"""

from __future__ import annotations

import argparse
from collections import Counter
import difflib
import html
import re
import sys
from pathlib import Path

import pandas as pd
from markdown_it import MarkdownIt

from ..analysis import schema, tables
from ..config.sweep import Sweep
from ..infra import paths
from ..infra.atomic import atomic_write_text
from ..infra.faults import EXIT_CODES, Refused, guard
from . import export

HERE = Path(__file__).resolve().parent
SITE = paths.PROJECT / "site"

# Where each explorer goes: after the body of the section whose heading starts with this text.
PLACES = {"The 2-D latent space": ("latent", "strip"), "The test set in the latent space": ("embedding", "interpolation")}

EXPLORER_HTML = {
    "latent": """<div class="explorer" data-explorer="latent">
<h4>Explore: move through the latent space</h4>
<p>Pick a model; the two sliders move the two coordinates you choose (ordered by their KL to the prior, the
largest first), the others stay at the chosen test image's posterior mean. Left: the decoded digit; right:
the test images' means on those two coordinates (colour: digit) and where you are.</p>
<label>model <select class="model"></select></label>
<label>x <select class="coord-x"></select></label> <label>y <select class="coord-y"></select></label>
<label>others at <select class="base"></select></label><br>
<label>x <input type="range" class="slider-x" min="-4" max="4" step="0.05"></label>
<label>y <input type="range" class="slider-y" min="-4" max="4" step="0.05"></label>
<div class="row"><canvas class="digit" width="28" height="28"></canvas><canvas class="map" width="320" height="320"></canvas></div>
<p class="label"></p>
</div>""",
    "strip": """<div class="explorer" data-explorer="strip">
<h4>Explore: one z, every seed's decoder</h4>
<p>The same point of the 2-D latent space decoded by each seed's model of one architecture. Nothing in
training ties one seed's latent space to another's: compare what the same z decodes to from seed to seed.</p>
<label>architecture <select class="arch"></select></label>
<label>z1 <input type="range" class="slider-x" min="-3" max="3" step="0.05" value="0"></label>
<label>z2 <input type="range" class="slider-y" min="-3" max="3" step="0.05" value="0"></label>
<div class="strip row"></div>
<p class="label"></p>
</div>""",
    "embedding": """<div class="explorer" data-explorer="embedding">
<h4>Explore: the 2-D test embedding</h4>
<p>Each dot is a test image's posterior mean (colour: its digit). Click a dot: the image and the decoding of
its mean appear beside the map.</p>
<label>model <select class="model"></select></label>
<div class="row"><canvas class="map" width="360" height="360"></canvas>
<figure><canvas class="original" width="28" height="28"></canvas><figcaption>test image</figcaption></figure>
<figure><canvas class="digit" width="28" height="28"></canvas><figcaption>decoded mean</figcaption></figure></div>
<p class="label"></p>
</div>""",
    "interpolation": """<div class="explorer" data-explorer="interpolation">
<h4>Explore: between two test images</h4>
<p>Two test images and a slider between their posterior means: at either end the decoding of that image's
mean, between them the straight line in latent space.</p>
<label>model <select class="model"></select></label>
<label>from <select class="image-a"></select></label> <label>to <select class="image-b"></select></label>
<label>t <input type="range" class="slider-t" min="0" max="1" step="0.05" value="0"></label>
<div class="row"><figure><canvas class="original-a" width="28" height="28"></canvas><figcaption>from</figcaption></figure>
<figure><canvas class="digit" width="28" height="28"></canvas><figcaption>decoded</figcaption></figure>
<figure><canvas class="original-b" width="28" height="28"></canvas><figcaption>to</figcaption></figure></div>
<p class="label"></p>
</div>""",
}

STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222}
table{border-collapse:collapse;font-size:.9rem;margin:1rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem}
img{max-width:100%}code{background:#f4f4f4;padding:0 .2rem}pre{background:#f4f4f4;padding:.5rem;overflow-x:auto}
.explorer{border:2px solid #0072b2;border-radius:.5rem;padding:.5rem 1rem;margin:1.5rem 0;background:#f7fbff}
.explorer canvas.digit,.explorer canvas.original,.explorer canvas.original-a,.explorer canvas.original-b{width:140px;height:140px;image-rendering:pixelated;border:1px solid #999}
.explorer canvas.map{border:1px solid #999;cursor:crosshair}.row{display:flex;gap:1rem;align-items:flex-start;flex-wrap:wrap}
.strip canvas.digit{width:84px;height:84px}figure{margin:0;text-align:center}label{margin-right:1rem}"""


def _sections(markdown: str) -> list[str]:
    """REPORT.md cut before each level-2 heading (the first part is what comes before any)."""
    return re.split(r"(?m)^(?=## )", markdown)


def render_html(markdown: str, manifest: list[dict], script_bytes: int) -> str:
    """The page from REPORT.md's text and what models.js carries (its manifest and size)."""
    md = MarkdownIt("commonmark").enable("table")
    parts, placed = [], set()
    for section in _sections(markdown):
        parts.append(md.render(section))
        heading = section.split("\n", 1)[0][3:].strip() if section.startswith("## ") else ""
        for start, names in PLACES.items():
            if heading.startswith(start):
                parts += [EXPLORER_HTML[n] for n in names]
                placed.update(names)
    left = [n for n in EXPLORER_HTML if n not in placed]
    if left:                                  # a sweep without those sections: the explorers at the end
        parts.append("<h2>Explore the latent spaces</h2>\n" + "\n".join(EXPLORER_HTML[n] for n in left))
    parts.append(about(manifest, script_bytes))
    body = "\n".join(parts)
    body = re.sub(r'(<img src=")(?!https?:|data:|/)', r"\1../", body)              # figures/ is beside site/
    body = re.sub(r'(<a href=")(?!https?:|#|data:|/|mailto:)', r"\1../", body)     # so are the linked files
    title = re.search(r"(?m)^# (.+)$", markdown)
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title.group(1) if title else 'Report')}</title>\n<style>\n{STYLE}\n</style>\n</head>\n"
            f"<body>\n{body}\n<script src=\"models.js\"></script>\n<script>\n{(HERE / 'explorer.js').read_text()}</script>\n"
            f"</body>\n</html>\n")


def about(manifest: list[dict], script_bytes: int) -> str:
    rows = "\n".join(f"<tr><td>{m['run']}</td><td>{m['arch']}</td><td>{m['latent_dim']}</td><td>{m['seed']}</td>"
                     f"<td>{m['precision']}</td><td><code>{m['weights_sha256'][:12]}</code></td></tr>" for m in manifest)
    precisions = Counter(m["precision"] for m in manifest)
    return (f"<h2>About this page</h2>\n<p>Rendered from REPORT.md by <code>python -m vaelib.site</code>. The explorers "
            f"decode in this page's JavaScript with the weights of {len(manifest)} runs of the report, carried in "
            f"<code>models.js</code> ({script_bytes / 2 ** 20:.1f} MiB, base64; "
            + ", ".join(f"{n} in {p}" for p, n in precisions.items())
            + f"; float16 wherever the decoded digits stay within one grey level of the float32 decoder at "
            f"{export.PROBES} test points), with the first {export.TEST_IMAGES} test images and each run's posterior "
            f"means of them. Each run's weights hash (sha256 of its weights.pt, first 12 digits) is the one "
            f"<code>results/weights.csv</code> records.</p>\n<table><thead><tr><th>run</th><th>arch</th><th>d</th>"
            f"<th>seed</th><th>weights</th><th>sha256</th></tr></thead><tbody>\n{rows}\n</tbody></table>")


def build(sweep: Sweep, runs_dir: Path, report: Path, out: Path = SITE) -> tuple[Path, Path]:
    script = export.write_script(export.site_data(sweep, runs_dir), out / "models.js")
    page = out / "index.html"
    page.write_text(render_html(report.read_text(), export.manifest(export.read_script(script)), script.stat().st_size))
    return page, script


def page_only(report: Path, results: Path, out: Path = SITE) -> Path:
    """index.html again from REPORT.md, with the decoders models.js already carries (no runs needed): for a
    write-up re-rendered over the same runs. Refused where models.js holds weights other than results/ records."""
    script = out / "models.js"
    if not script.is_file():
        raise Refused(f"{script} does not exist: `python -m vaelib.site` (with runs/) writes it")
    page = out / "index.html"
    stale = [p for p in check(report, results, out) if not p.startswith(f"{page} differs")]
    if stale:
        raise Refused(f"{stale[0]}; `python -m vaelib.site` with the report's runs/ exports them again")
    atomic_write_text(page, render_html(report.read_text(), export.manifest(export.read_script(script)),
                                        script.stat().st_size))
    return page


def check(report: Path, results: Path, out: Path = SITE) -> list[str]:
    """What is out of date in `out`: the page against REPORT.md and models.js, the weights against results/."""
    problems = []
    script, page = out / "models.js", out / "index.html"
    if not script.is_file() or not page.is_file():
        return [f"{out} holds no site (index.html and models.js); `python -m vaelib.site` makes it"]
    manifest = export.manifest(export.read_script(script))
    text = render_html(report.read_text(), manifest, script.stat().st_size)
    if page.read_text() != text:
        diff = difflib.unified_diff(page.read_text().splitlines(), text.splitlines(), str(page), "rendered",
                                    lineterm="", n=0)
        problems.append(f"{page} differs from what {report.name} gives:\n" + "\n".join(list(diff)[:20]))
    recorded = tables.read(results / "weights.csv").set_index("run")["weights_sha256"] \
        if (results / "weights.csv").is_file() else pd.Series(dtype=str)
    for m in manifest:
        if recorded.get(m["run"]) != m["weights_sha256"]:
            problems.append(f"{script}: run {m['run']}'s weights ({m['weights_sha256'][:12]}) are not the ones "
                            f"{results / 'weights.csv'} records ({str(recorded.get(m['run'], 'none'))[:12]})")
    return problems


@guard
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelib.site", description=__doc__, epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare site/ with REPORT.md and results/ instead")
    parser.add_argument("--runs-dir", default=str(paths.PROJECT / "runs"))
    parser.add_argument("--results", default=str(paths.PROJECT / "results"))
    parser.add_argument("--report", default=str(paths.PROJECT / "REPORT.md"))
    parser.add_argument("--out", default=str(SITE))
    parser.add_argument("--page-only", action="store_true",
                        help="index.html again from REPORT.md with the decoders models.js carries (no runs/ needed)")
    args = parser.parse_args(argv)
    report, results, out = Path(args.report), Path(args.results), Path(args.out)
    if not report.is_file():
        raise Refused(f"--report {report} does not exist; `make report` writes REPORT.md")
    run_json = results / "run.json"
    if not run_json.is_file() and not (results.is_dir() and any(results.glob("*.csv"))):
        raise Refused(f"{results} holds no report's results (no run.json); `make report` makes them")
    found = schema.read_folder(results)      # every table checked: schema.BadTable, one line, nothing written
    if args.check:
        problems = check(report, results, out)
        print("\n".join(problems) if problems else f"{out} is up to date with {report.name} and {results}")
        return 1 if problems else 0
    if args.page_only:
        print(f"{page_only(report, results, out)} rendered from {report.name} (decoders of {out / 'models.js'} kept)")
        return 0
    sweep = Sweep.from_params(found["run"]["sweep"])
    page, script = build(sweep, Path(args.runs_dir), report, out)
    print(f"{page} and {script} ({script.stat().st_size / 2 ** 20:.1f} MiB) written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
