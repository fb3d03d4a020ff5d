"""The report as a static page that opens from a clone with a double click: site/index.html and site/models.js.

    python -m vaelib.site            # export the runs' decoders and encoders (site/models.js), then render the page
    python -m vaelib.site --check    # is site/ what REPORT.md and results/ give? (no runs needed)
    python -m vaelib.site --page-only [--add-encoders]   # the page again, models.js kept (encoders of runs/ added)

index.html is REPORT.md rendered by markdown-it (CommonMark and tables) with a viewport, three lines saying what
it is, a table of contents, an id on every heading, the report's cross-references and its results/ and figures/
mentions as links, tables that scroll in their own box, and numbered figures whose alt text and caption are what
vaelib.analysis.figures says each shows. The explorers (explorer.js, inlined) are placed in the sections they
belong to. What the explorers read from results/ (the digits' palette, each setting's seeds' losses, prediction
interval and collapse threshold: page_facts) is written into the page by this build, never typed in it. The
figures it shows and the results/ tables are copied into site/, so site/ works copied or published alone, from
file:// with no server and no network. models.js is written from runs/ (not in git); the check needs neither: it
renders the page again from REPORT.md, results/ and models.js's manifest, compares the copies with their sources
and each exported run's weights hash with the one results/weights.csv records. Both first check every file of
results/ against its declaration (vaelib.analysis.schema): a damaged table stops them in one line, nothing written.
"""

from __future__ import annotations

import argparse
from collections import Counter
import difflib
import html
import json
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
from markdown_it import MarkdownIt

from ..analysis import collapse, figures, palette, schema, tables
from ..config.sweep import Sweep
from ..infra import paths
from ..infra.atomic import atomic_write_text
from ..infra.faults import EXIT_CODES, Refused, guard
from . import export

HERE = Path(__file__).resolve().parent
SITE = paths.PROJECT / "site"

# Where each explorer goes: after the body of the section whose heading starts with this text.
PLACES = {"The 2-D latent space": ("latent", "strip"),
          "The test set in the latent space": ("embedding", "draw", "interpolation"),
          "Runs that collapse": ("place",)}

EXPLORER_HTML = {
    "latent": ("Explore: move through the latent space", """<p>Pick a model, then click, drag or hover on the map
(arrow keys move the point once the map has the focus): the digit beside it is the decoding of that point.
At d = 2 the map has z1 across and z2 up, as in the figures; at d &gt; 2 its axes are two coordinates of your choice,
named by their rank in KL to the prior (the others stay at the chosen test image's posterior mean), and a traversal
below decodes each coordinate in turn from -2 to 2. Dots: the test images' means (colour: digit).</p>
<div class="controls"><label>model <select class="model"></select></label>
<label>across the map <select class="coord-x"></select></label>
<label>up the map <select class="coord-y"></select></label>
<label>the others at test image <input type="number" class="base" min="0" value="0"></label>
<label><span class="name-x">z1</span> (across) <input type="range" class="slider-x" min="-4" max="4" step="0.05"></label>
<label><span class="name-y">z2</span> (up) <input type="range" class="slider-y" min="-4" max="4" step="0.05"></label></div>
<div class="row"><figure><canvas class="digit" width="28" height="28" role="img"></canvas><figcaption>decoded</figcaption></figure>
<canvas class="map" width="320" height="320" tabindex="0" role="application"></canvas></div>
<p class="label" aria-live="polite"></p>
<div class="traversal"></div>"""),
    "strip": ("Explore: one z, every seed's decoder", """<p>The same point of the 2-D latent space decoded by each seed's
model of one architecture. Nothing in training ties one seed's latent space to another's: compare what the same z
decodes to from seed to seed.</p>
<div class="controls"><label>architecture <select class="arch"></select></label>
<label>z1 <input type="range" class="slider-x" min="-3" max="3" step="0.05" value="0"></label>
<label>z2 <input type="range" class="slider-y" min="-3" max="3" step="0.05" value="0"></label></div>
<div class="strip row"></div>
<p class="label" aria-live="polite"></p>"""),
    "embedding": ("Explore: the test embedding", """<p>Each dot is a test image's posterior mean (colour: its digit), for
any exported run: z1 across and z2 up at d = 2, the two coordinates of largest KL at d &gt; 2. Click a dot, or focus
the map and use the arrow keys (left and right: the previous and next test image): the image and the decoding of
its mean appear beside the map, the dot is ringed, and the latent explorer above can take its code.</p>
<div class="controls"><label>model <select class="model"></select></label>
<button type="button" class="send">open this image's code in the latent explorer</button></div>
<div class="row"><canvas class="map" width="320" height="320" tabindex="0" role="application"></canvas>
<figure><canvas class="original" width="28" height="28" role="img"></canvas><figcaption>test image</figcaption></figure>
<figure><canvas class="digit" width="28" height="28" role="img"></canvas><figcaption>decoded mean</figcaption></figure></div>
<p class="label" aria-live="polite"></p>"""),
    "draw": ("Explore: your own digit, encoded", """<p>Draw a digit in the black square (mouse, pen or finger), or
pick a test image: the chosen model's encoder gives its posterior q(z|x) (the models offered are those whose
encoder this page carries, listed under <a href="#about-this-page">About this page</a>). Its mean is the ringed point on the map
(z1 across and z2 up at d = 2, the two coordinates of largest KL at d &gt; 2), at d = 2 with an ellipse one posterior
standard deviation wide in each direction; beside them, the decoding of the mean (the reconstruction).</p>
<div class="controls"><label>model <select class="model"></select></label>
<label>or test image <input type="number" class="image" min="0" value="0"></label>
<button type="button" class="clear">clear the drawing</button></div>
<div class="row"><figure><canvas class="pad" width="28" height="28" role="img"></canvas><figcaption>your digit</figcaption></figure>
<canvas class="map" width="320" height="320" role="img"></canvas>
<figure><canvas class="digit" width="28" height="28" role="img"></canvas><figcaption>reconstruction</figcaption></figure></div>
<p class="label" aria-live="polite"></p>"""),
    "interpolation": ("Explore: between two test images", """<p>Two test images and a slider between their posterior
means: at either end the decoding of that image's mean, between them the straight line in latent space.</p>
<div class="controls"><label>model <select class="model"></select></label>
<label>from test image <input type="number" class="image-a" min="0" value="0"></label>
<label>to test image <input type="number" class="image-b" min="0" value="1"></label>
<label>t, from 0 to 1 <input type="range" class="slider-t" min="0" max="1" step="0.05" value="0"></label></div>
<div class="row"><figure><canvas class="original-a" width="28" height="28" role="img"></canvas><figcaption>from</figcaption></figure>
<figure><canvas class="digit" width="28" height="28" role="img"></canvas><figcaption>decoded</figcaption></figure>
<figure><canvas class="original-b" width="28" height="28" role="img"></canvas><figcaption>to</figcaption></figure></div>
<p class="label" aria-live="polite"></p>"""),
    "place": ("Your own run, placed among the report's seeds", """<p>Trained the handout's model in your own code?
Enter its architecture, d and final test loss (nats per image, the negative ELBO on the MNIST test set), or
paste CSV lines with the columns arch, latent_dim, test_loss. Each run is drawn among the committed seeds of its
setting (dots), with the 95% prediction interval of a new seed's loss (band) and the collapse threshold of the
report's rule (line). The numbers are those of <a href="results/final_by_seed.csv"><code>results/final_by_seed.csv</code></a>;
<code>python -m vaelib compare RUN_FOLDER_OR_CSV</code> gives the same from the command line.</p>
<div class="controls"><label>architecture <select class="arch"></select></label>
<label>d <select class="dim"></select></label>
<label>final test loss <input type="text" class="loss" inputmode="decimal" size="9"></label>
<button type="button" class="go">place it</button></div>
<label class="csv-label">or CSV <textarea class="csv" rows="3" cols="30" placeholder="arch,latent_dim,test_loss"></textarea></label>
<button type="button" class="go-csv">place these</button>
<p class="error" role="alert"></p>
<div class="placed" aria-live="polite"></div>"""),
}

STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222;overflow-wrap:break-word}
table{border-collapse:collapse;font-size:.9rem;margin:0}td,th{border:1px solid #ccc;padding:.2rem .5rem}
.table-scroll{overflow-x:auto;max-width:100%;margin:1rem 0}
img,canvas,svg,figure{max-width:100%}code{background:#f4f4f4;padding:0 .2rem}pre{background:#f4f4f4;padding:.5rem;overflow-x:auto}
figure.fig{margin:1rem 0;text-align:center}figure.fig img{height:auto}figcaption{font-size:.9rem;color:#333}
.explorer{border:2px solid #0072b2;border-radius:.5rem;padding:.5rem 1rem;margin:1.5rem 0;background:#f7fbff}
.explorer canvas.digit,.explorer canvas.original,.explorer canvas.original-a,.explorer canvas.original-b,.explorer canvas.pad{width:140px;height:140px;image-rendering:pixelated;border:1px solid #999}
.explorer canvas.pad{width:196px;height:196px;touch-action:none;cursor:crosshair}
.explorer canvas.map{border:1px solid #999;cursor:crosshair;width:320px;height:auto;touch-action:none}.row{display:flex;gap:1rem;align-items:flex-start;flex-wrap:wrap}
.strip canvas.digit{width:84px;height:84px}figure{margin:0;text-align:center}
.controls label,.csv-label{display:inline-block;margin:0 1rem .3rem 0}
input,select,button,textarea{font:inherit;min-height:24px;min-width:24px;max-width:100%;box-sizing:border-box}input[type=range]{height:24px}
input[type=number]{width:5.5em}.traversal canvas{width:42px;height:42px;image-rendering:pixelated}
.legend .swatch{display:inline-block;width:.8em;height:.8em;margin:0 .2em 0 .5em;vertical-align:-.05em}
.legend .key{color:#222}.error{color:#b00020;font-weight:bold}.status{color:#b00020}
:focus-visible{outline:3px solid #d55e00;outline-offset:2px}nav.toc ol{padding-left:1.5rem}
svg.placed-run{width:100%;height:auto;background:#fff;border:1px solid #999}"""

INTRO = """<p class="intro"><strong>What this is:</strong> the project's write-up, REPORT.md, as a page that works from disk
with no server, with explorers that decode in your browser the weights of the report's runs.<br>
<strong>TME #9</strong> is the lab write-up <em>TME #9: Variational Auto Encoder</em>, called <em>the handout</em> below:
its claims are what the report checks, over several training seeds of each model.<br>
<strong>The explorers:</strong> {links}.</p>"""


def _sections(markdown: str) -> list[str]:
    """REPORT.md cut before each level-2 heading (the first part is what comes before any)."""
    return re.split(r"(?m)^(?=## )", markdown)


def slug(text: str, taken: set) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", html.unescape(re.sub(r"<[^>]+>", "", text)).lower()).strip("-") or "section"
    out, n = base, 2
    while out in taken:
        out, n = f"{base}-{n}", n + 1
    taken.add(out)
    return out


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def explorer(name: str) -> str:
    title, body = EXPLORER_HTML[name]
    return (f'<section class="explorer" data-explorer="{name}" id="explore-{name}" aria-labelledby="explore-{name}-title">\n'
            f'<h3 id="explore-{name}-title">{title}</h3>\n<p class="status" hidden></p>\n{body}\n</section>')


def _link_files(body: str) -> str:
    """Mentions of results/ and figures/ files in the text (outside links and code blocks) as links to the
    copies inside site/."""
    out, in_link, in_pre = [], False, False
    for part in re.split(r"(<[^>]+>)", body):
        if part.startswith("<"):
            tag = part[1:].split(None, 1)[0].rstrip(">").lower() if len(part) > 2 else ""
            in_link = {"a": True, "/a": False}.get(tag, in_link)
            in_pre = {"pre": True, "/pre": False}.get(tag, in_pre)
        elif not (in_link or in_pre):
            part = re.sub(r"(?<![\w/.])((?:results|figures)/[\w.-]+\.(?:csv|json|png))",
                          r'<a href="\1">\1</a>', part)
        out.append(part)
    return "".join(out)


def _figures(body: str, numbers: dict) -> str:
    """Each figure as a numbered <figure> with its caption and a link to the full-size file; alt text and
    caption are what vaelib.analysis.figures says the figure shows (its markdown alt where it has no entry)."""
    def one(m):
        name, alt = m.group(1), html.unescape(m.group(2))
        shows = figures.FIGURES.get(name, (None, alt))[1]
        if not shows:
            raise ValueError(f"figure {name} has no description in vaelib/analysis/figures.py and no alt text")
        n = numbers.setdefault(name, len(numbers) + 1)
        text = html.escape(shows[0].upper() + shows[1:], quote=True)
        return (f'<figure class="fig" id="figure-{n}"><a href="figures/{name}"><img src="figures/{name}" alt="{text}" '
                f'loading="lazy"></a><figcaption>Figure {n}: {text} (<a href="figures/{name}">full size</a>)'
                f'</figcaption></figure>')
    return re.sub(r'<img src="figures/([\w.-]+)" alt="([^"]*)" */?>', one, body)


def render_html(markdown: str, manifest: list[dict], script_bytes: int, facts: dict) -> str:
    """The page from REPORT.md's text, what models.js carries (its manifest and size) and the facts the
    explorers read from results/ (page_facts)."""
    md = MarkdownIt("commonmark").enable("table")
    parts, placed = [], []
    for section in _sections(markdown):
        parts.append(md.render(section))
        heading = section.split("\n", 1)[0][3:].strip() if section.startswith("## ") else ""
        for start, names in PLACES.items():
            if heading.startswith(start):
                parts += [explorer(n) for n in names]
                placed += names
    left = [n for n in EXPLORER_HTML if n not in placed]
    if left:                                  # a sweep without those sections: the explorers at the end
        parts.append("<h2>Explore the latent spaces</h2>\n" + "\n".join(explorer(n) for n in left))
    numbers: dict = {}
    parts.append(about(manifest, script_bytes))
    body = _figures(_link_files("\n".join(parts)), numbers)
    body = body.replace('href="figures/README.md"', 'href="#list-of-figures"')
    body = re.sub(r'(<a href=")(?!https?:|#|data:|/|mailto:|results/|figures/)', r"\1../", body)  # files outside site/
    body = re.sub(r"<table>", '<div class="table-scroll" tabindex="0" role="region" aria-label="table">\n<table>', body)
    body = body.replace("</table>", "</table>\n</div>")
    taken: set = {f"explore-{n}" for n in EXPLORER_HTML} | {f"explore-{n}-title" for n in EXPLORER_HTML} | {"contents"}
    toc = []

    def heading(m):
        level, text = int(m.group(1)), m.group(2)
        ident = slug(text, taken)
        if level == 2:
            toc.append(f'<li><a href="#{ident}">{text}</a></li>')
        return f'<h{level} id="{ident}">{text}</h{level}>'
    body = re.sub(r"<h([2-4])>(.*?)</h\1>", heading, body)
    ids = dict(re.findall(r'<h[2-4] id="([^"]+)">(.*?)</h', body))
    def cross(m):                             # the report's 'section "X"' as a link to that heading
        target = next((i for i, t in ids.items() if html.unescape(re.sub(r"<[^>]+>", "", t)).startswith(html.unescape(m.group(1)))), None)
        return f'section <a href="#{target}">&quot;{m.group(1)}&quot;</a>' if target else m.group(0)
    body = re.sub(r"(?<![\w-])section &quot;(.+?)&quot;", cross, body)
    body += list_of_figures(numbers)
    toc.append('<li><a href="#list-of-figures">List of figures</a></li>')
    title = re.search(r"(?m)^# (.+)$", markdown)
    links = ", ".join(f'<a href="#explore-{n}">{_lower(EXPLORER_HTML[n][0].removeprefix("Explore: "))}</a>' for n in EXPLORER_HTML)
    nav = (INTRO.format(links=links) + '\n<nav class="toc" aria-labelledby="contents"><h2 id="contents">Contents</h2>'
           f'<ol>{"".join(toc)}</ol></nav>\n')
    body = re.sub(r"(</h1>\n)", lambda m: m.group(1) + nav, body, count=1) if "</h1>" in body else nav + body
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title.group(1) if title else 'Report')}</title>\n<style>\n{STYLE}\n</style>\n</head>\n"
            f"<body>\n{body}\n<script>\nwindow.VAE_FACTS = {json.dumps(facts, separators=(',', ':'))};\n</script>\n"
            f"<script src=\"models.js\"></script>\n<script>\n{(HERE / 'explorer.js').read_text()}</script>\n"
            f"</body>\n</html>\n")


def list_of_figures(numbers: dict) -> str:
    rows = "".join(f'<li><a href="#figure-{n}">Figure {n}</a>: <a href="figures/{name}">{name}</a></li>'
                   for name, n in numbers.items())
    return f'\n<h2 id="list-of-figures">List of figures</h2>\n<ol>{rows}</ol>\n'


def page_facts(results: Path) -> dict:
    """What the explorers read from results/ rather than from the runs: the digits' palette (one definition,
    vaelib.analysis.palette) and, per setting, every seed's final test loss, the 95% prediction interval and
    the collapse threshold (vaelib.analysis.collapse, from results/final_by_seed.csv)."""
    final = results / "final_by_seed.csv"
    return {"palette": list(palette.DIGITS), "collapse_rule": collapse.RULE,
            "settings": collapse.settings(tables.read(final)) if final.is_file() else {}}


def copies(markdown: str, figures_dir: Path, results: Path, out: Path) -> list[tuple[Path, Path]]:
    """(source, copy inside site/) for the figures the page shows and every results/ table it may link."""
    shown = re.findall(r"\]\(figures/([\w.-]+\.png)\)", markdown)
    return ([(figures_dir / n, out / "figures" / n) for n in dict.fromkeys(shown)]
            + [(f, out / "results" / f.name) for f in sorted(results.glob("*.csv")) + sorted(results.glob("*.json"))])


def copy_files(markdown: str, figures_dir: Path, results: Path, out: Path) -> None:
    """The figures and tables the page links, copied inside site/ (it works published alone)."""
    for source, target in copies(markdown, figures_dir, results, out):
        if source.is_file() and (not target.is_file() or target.read_bytes() != source.read_bytes()):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def about(manifest: list[dict], script_bytes: int) -> str:
    rows = "\n".join(f"<tr><td>{m['run']}</td><td>{m['arch']}</td><td>{m['latent_dim']}</td><td>{m['seed']}</td>"
                     f"<td>{m['precision']}</td><td>{m.get('encoder') or 'none'}</td>"
                     f"<td><code>{m['weights_sha256'][:12]}</code></td></tr>" for m in manifest)
    precisions = Counter(m["precision"] for m in manifest)
    encoded = [m["run"] for m in manifest if m.get("encoder")]
    return (f"<h2>About this page</h2>\n<p>Rendered from REPORT.md by <code>python -m vaelib.site</code>. The explorers "
            f"decode in this page's JavaScript with the weights of {len(manifest)} runs of the report, carried in "
            f"<code>models.js</code> ({script_bytes / 2 ** 20:.1f} MiB, base64; "
            + ", ".join(f"{n} in {p}" for p, n in precisions.items())
            + f"; float16 wherever the decoded digits stay within one grey level of the float32 decoder at "
            f"{export.PROBES} test points), with the first {export.TEST_IMAGES} test images and each run's posterior "
            f"means of them. Encoders (for your own digit) are carried for {len(encoded)} of these runs "
            f"({', '.join(encoded) or 'none'}): those whose weights.pt was at hand, trained again bit for bit where "
            f"needed, each checked against the same hash; float16 wherever their means and log-variances stay within "
            f"{export.ENCODER_TOLERANCE:g} of torch's float32 encoder on those test images. Each run's weights hash "
            f"(sha256 of its weights.pt, first 12 digits) is the one <code>results/weights.csv</code> records.</p>\n"
            f"<table><thead><tr><th>run</th><th>arch</th><th>d</th><th>seed</th><th>decoder</th><th>encoder</th>"
            f"<th>sha256</th></tr></thead><tbody>\n{rows}\n</tbody></table>")


def build(sweep: Sweep, runs_dir: Path, report: Path, out: Path = SITE, results: Path | None = None) -> tuple[Path, Path]:
    results = Path(results or report.parent / "results")
    script = export.write_script(export.site_data(sweep, runs_dir), out / "models.js")
    return write_page(report, results, out), script


def write_page(report: Path, results: Path, out: Path) -> Path:
    """index.html from REPORT.md, results/ and the models.js beside it, with the figures and tables it links
    copied inside `out`."""
    script, page = out / "models.js", out / "index.html"
    markdown = report.read_text()
    copy_files(markdown, report.parent / "figures", results, out)
    atomic_write_text(page, render_html(markdown, export.manifest(export.read_script(script)), script.stat().st_size,
                                        page_facts(results)))
    return page


def page_only(report: Path, results: Path, out: Path = SITE, runs_dir: Path | None = None) -> Path:
    """index.html again from REPORT.md, with the decoders models.js already carries (no runs needed): for a
    write-up re-rendered over the same runs. Refused where models.js holds weights other than results/ records.
    With `runs_dir`, the encoders of the runs found there with the weights models.js records are added first."""
    script = out / "models.js"
    if not script.is_file():
        raise Refused(f"{script} does not exist: `python -m vaelib.site` (with runs/) writes it")
    page = out / "index.html"
    stale = [p for p in check(report, results, out) if not p.startswith((f"{page} differs", f"{out}/figures",
                                                                          f"{out}/results"))]
    if stale:
        raise Refused(f"{stale[0]}; `python -m vaelib.site` with the report's runs/ exports them again")
    if runs_dir is not None:
        added = export.add_encoders(script, Path(runs_dir))
        print(f"encoders added from {runs_dir}: {', '.join(added) or 'none'}")
    return write_page(report, results, out)


def check(report: Path, results: Path, out: Path = SITE) -> list[str]:
    """What is out of date in `out`: the page against REPORT.md, results/ and models.js, the copied figures and
    tables against figures/ and results/, the weights against results/weights.csv."""
    problems = []
    script, page = out / "models.js", out / "index.html"
    if not script.is_file() or not page.is_file():
        return [f"{out} holds no site (index.html and models.js); `python -m vaelib.site` makes it"]
    manifest = export.manifest(export.read_script(script))
    markdown = report.read_text()
    text = render_html(markdown, manifest, script.stat().st_size, page_facts(results))
    if page.read_text() != text:
        diff = difflib.unified_diff(page.read_text().splitlines(), text.splitlines(), str(page), "rendered",
                                    lineterm="", n=0)
        problems.append(f"{page} differs from what {report.name} gives:\n" + "\n".join(list(diff)[:20]))
    for source, copy in copies(markdown, report.parent / "figures", results, out):
        if source.is_file() and (not copy.is_file() or copy.read_bytes() != source.read_bytes()):
            problems.append(f"{copy} is not a copy of {source}; `python -m vaelib.site --page-only` copies it")
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
    parser.add_argument("--add-encoders", action="store_true",
                        help="with --page-only: first add to models.js the encoders of the runs in --runs-dir whose "
                             "weights are the ones it records")
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
        runs_dir = Path(args.runs_dir) if args.add_encoders else None
        print(f"{page_only(report, results, out, runs_dir)} rendered from {report.name} (decoders of "
              f"{out / 'models.js'} kept)")
        return 0
    sweep = Sweep.from_params(found["run"]["sweep"])
    page, script = build(sweep, Path(args.runs_dir), report, out, results)
    print(f"{page} and {script} ({script.stat().st_size / 2 ** 20:.1f} MiB) written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
