"""The static site in a real headless Chromium (Debian's, through selenium), opened from file:// with no flag
that relaxes file access: every exported decoder, moved by real key presses, draws what torch decodes.

Trains a small sweep's runs (real MNIST, real steps), exports them with `vaelib.site`, and checks: the
digit canvases against torch's decoding of the z each canvas records, within one grey level; the
interpolation's ends against the decodings of the two images' means; a click on the latent map against
torch's decoding of that point; a digit drawn by pointer events against torch's encoder (within
export.ENCODER_TOLERANCE); no console error; every resource the page loaded is a file: or data: URL; `--check`
sees a stale page and a changed run. The committed site/ (no runs needed): at 390 x 844 no sideways scroll and
controls at least 24 px; every <img> with alt text; the legend's text contrast; the "your run" box placing a
seed's loss at its own dot and flagging a collapsed one. Screenshots of each explorer go to
$VAELIB_SCREENSHOTS/smoke (default: screenshots/), and of the committed site/ at desktop and phone size to
$VAELIB_SCREENSHOTS/committed. $VAELIB_SITE_PAGE points the committed tests at another page (an older one, say).
"""

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from vaelib import __main__ as cli
from vaelib.analysis import collapse, tables
from vaelib.analysis.results import weights_table
from vaelib.config.sweep import Sweep
from vaelib.core.models import load_model
from vaelib.data import datasets as data
from vaelib.infra.paths import PROJECT
from vaelib.site import build, export
from vaelib.training.engine import train
from vaelib.training.runs import weights_sha256

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOTS = Path(os.environ.get("VAELIB_SCREENSHOTS") or PROJECT / "screenshots")
SWEEP = Sweep(archs=("linear", "conv"), dims=(2, 5), seeds=(0, 1), epochs=1, datasets=("mnist",),
              train_limit=600, test_limit=500, iwae_k=0, extras=())

if not (CHROMIUM and DRIVER):
    if os.environ.get("CI"):
        pytest.fail("chromium and chromedriver are needed for the site test: run `make browser`", pytrace=False)
    pytest.skip("no chromium/chromedriver (make browser installs them)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

REPORT = """# A small report

## The 2-D latent space

Text.

## The test set in the latent space

More text.
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    for config in export.exported_runs(SWEEP):
        train(config, root / "runs", progress=False)
    results = root / "results"
    results.mkdir()
    weights_table(SWEEP, root / "runs").to_csv(results / "weights.csv", index=False)
    (root / "REPORT.md").write_text(REPORT)
    page, script = build.build(SWEEP, root / "runs", root / "REPORT.md", root / "site")
    return root, page


@pytest.fixture(params=["smoke", "committed"])
def exported(request):
    """(which, runs folder, page) of the smoke sweep trained here, and of the committed site/ where its runs exist here
    (runs/ is not in git: a fresh clone skips it; the machine that made the report checks it)."""
    if request.param == "smoke":
        root, page = request.getfixturevalue("site")
        return "smoke", root / "runs", page
    page, runs = PROJECT / "site" / "index.html", PROJECT / "runs"
    if not page.is_file():
        pytest.skip("no committed site/ (make site writes it)")
    other = [m["run"] for m in export.manifest(export.read_script(page.parent / "models.js"))
             if not (runs / m["run"] / "weights.pt").is_file() or weights_sha256(runs / m["run"]) != m["weights_sha256"]]
    if other:
        pytest.skip(f"runs/ here lacks {len(other)} of the committed site's runs (or holds other weights), e.g. {other[0]}")
    return "committed", runs, page


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1000"):
        options.add_argument(arg)                       # nothing that relaxes file:// access
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(DRIVER), options=options)
    yield driver
    driver.quit()


def open_page(browser, page: Path):
    browser.get(page.as_uri())
    for _ in range(200):
        if browser.execute_script("return window.VAE_READY === true"):
            return
        time.sleep(0.05)
    raise AssertionError(f"the explorers never started: {browser.get_log('browser')}")


def canvas(browser, element) -> tuple[np.ndarray, list]:
    """The grey levels a 28 x 28 digit canvas shows and the z it recorded."""
    pixels = browser.execute_script(
        "const c = arguments[0]; return Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data)", element)
    return np.array(pixels, dtype=np.int16).reshape(-1, 4)[:, 0], json.loads(element.get_attribute("data-z"))


def torch_grey(folder: Path, z) -> np.ndarray:
    model = load_model(folder)
    with torch.no_grad():
        return export.grey(torch.sigmoid(model.decode(torch.tensor([z], dtype=torch.float32))).flatten().numpy())


def test_every_exported_decoder_draws_what_torch_decodes(exported, browser):
    _, runs, page = exported
    open_page(browser, page)
    latent = browser.find_element(By.CSS_SELECTOR, "[data-explorer=latent]")
    models = Select(latent.find_element(By.CLASS_NAME, "model"))
    records = export.manifest(export.read_script(page.parent / "models.js"))
    seeds = sorted({m["seed"] for m in records})
    first = [m for m in records if m["seed"] == seeds[0]]
    assert len(first) == len({m["arch"] for m in first}) * len({m["latent_dim"] for m in first})
    assert [o.get_attribute("value") for o in models.options] == [m["run"] for m in records]   # every exported run
    for record in first:
        models.select_by_value(record["run"])
        seen = set()
        for slider, key, presses in (("slider-x", Keys.ARROW_RIGHT, 7), ("slider-y", Keys.ARROW_LEFT, 5)):
            latent.find_element(By.CLASS_NAME, slider).send_keys(*[key] * presses)     # real key presses
            grey, z = canvas(browser, latent.find_element(By.CLASS_NAME, "digit"))
            assert len(z) == record["latent_dim"]
            seen.add(tuple(z))
            difference = np.abs(grey - torch_grey(runs / record["run"], z)).max()
            assert difference <= 1, f"{record['run']} at z={z}: {difference} grey levels from torch"
        assert len(seen) == 2, "the sliders did not move z"
    strip = browser.find_element(By.CSS_SELECTOR, "[data-explorer=strip]")
    for arch_index, arch in enumerate(dict.fromkeys(m["arch"] for m in records if m["latent_dim"] == 2)):
        Select(strip.find_element(By.CLASS_NAME, "arch")).select_by_index(arch_index)
        strip.find_element(By.CLASS_NAME, "slider-x").send_keys(*[Keys.ARROW_RIGHT] * 9)
        digits = strip.find_elements(By.CSS_SELECTOR, "canvas.digit")
        assert len(digits) == len([m for m in records if m["arch"] == arch and m["latent_dim"] == 2]) == len(seeds)
        for element in digits:
            grey, z = canvas(browser, element)
            assert z[0] != 0
            assert np.abs(grey - torch_grey(runs / element.get_attribute("data-model"), z)).max() <= 1


def test_a_click_on_the_latent_map_decodes_that_point(site, browser):
    """At d = 2 (z1 across, z2 up) and d = 5 (two coordinates by KL): a real click at a known spot of the map
    decodes the z at that spot, as torch decodes it; an arrow key on the focused map moves it, the slider follows."""
    root, page = site
    open_page(browser, page)
    latent = browser.find_element(By.CSS_SELECTOR, "[data-explorer=latent]")
    for run in ("linear_2_s0", "conv_5_s0"):
        Select(latent.find_element(By.CLASS_NAME, "model")).select_by_value(run)
        cx, cy = (int(Select(latent.find_element(By.CLASS_NAME, c)).first_selected_option.get_attribute("value"))
                  for c in ("coord-x", "coord-y"))
        if run.endswith("_2_s0"):
            assert (cx, cy) == (0, 1), "at d = 2 the map must have z1 across and z2 up"
        assert cx != cy
        digit, map_ = latent.find_element(By.CLASS_NAME, "digit"), latent.find_element(By.CLASS_NAME, "map")
        before, _ = canvas(browser, digit)
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", map_)
        x0, x1, y0, y1 = json.loads(map_.get_attribute("data-range"))
        width, height = map_.size["width"], map_.size["height"]
        fx, fy = 0.8, 0.25                                        # right of centre, near the top
        ActionChains(browser, duration=10).move_to_element_with_offset(map_, int((fx - 0.5) * width), int((fy - 0.5) * height)) \
            .click().perform()
        grey, z = canvas(browser, digit)
        pixel = max((x1 - x0) / width, (y1 - y0) / height)
        assert abs(z[cx] - (x0 + fx * (x1 - x0))) <= 1.5 * pixel and abs(z[cy] - (y1 - fy * (y1 - y0))) <= 1.5 * pixel, \
            f"{run}: clicked at ({fx}, {fy}) of the map, decoded z = {z}"
        assert np.abs(grey - torch_grey(root / "runs" / run, z)).max() <= 1
        assert np.abs(grey - before).max() > 1, "the click did not change the decoded digit"
        map_.send_keys(Keys.ARROW_UP)
        _, moved = canvas(browser, digit)
        assert moved[cy] > z[cy] and moved[cx] == z[cx]
        slider = float(latent.find_element(By.CLASS_NAME, "slider-y").get_attribute("value"))
        assert abs(slider - moved[cy]) <= 0.05, "the slider did not follow the map"
        Select(latent.find_element(By.CLASS_NAME, "coord-y")).select_by_value(str(cx))   # y := x: they swap
        sx, sy = (int(Select(latent.find_element(By.CLASS_NAME, c)).first_selected_option.get_attribute("value"))
                  for c in ("coord-x", "coord-y"))
        assert (sx, sy) == (cy, cx), f"{run}: choosing x's coordinate for y gave x = z{sx + 1}, y = z{sy + 1}"


def test_a_drawn_digit_is_encoded_as_torch_encodes_it(site, browser):
    """A digit drawn as strokes of pointer events on the 28 x 28 pad, encoded in the page by each exported
    encoder: its mean and log-variance within export.ENCODER_TOLERANCE of torch's encoder of the same pixels."""
    root, page = site
    open_page(browser, page)
    draw = browser.find_element(By.CSS_SELECTOR, "[data-explorer=draw]")
    draw.find_element(By.CLASS_NAME, "clear").click()
    pad = draw.find_element(By.CLASS_NAME, "pad")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", pad)
    side = pad.size["width"]
    strokes = [[(-0.25, -0.3), (0.25, -0.3), (0.0, 0.35)], [(-0.12, 0.02), (0.15, 0.02)]]    # a 7, crossed
    for stroke in strokes:
        chain = ActionChains(browser, duration=10).move_to_element_with_offset(pad, int(stroke[0][0] * side), int(stroke[0][1] * side))
        chain.click_and_hold()
        for (ax, ay), (bx, by) in zip(stroke, stroke[1:]):
            for k in range(1, 9):
                chain.move_to_element_with_offset(pad, int((ax + (bx - ax) * k / 8) * side), int((ay + (by - ay) * k / 8) * side))
        chain.release().perform()
    models = Select(draw.find_element(By.CLASS_NAME, "model"))
    assert len(models.options) == len(export.exported_runs(SWEEP))          # every smoke run carries its encoder
    for option in [o.get_attribute("value") for o in models.options]:
        models.select_by_value(option)
        pixels = np.array(browser.execute_script(
            "return Array.from(arguments[0].getContext('2d').getImageData(0, 0, 28, 28).data)", pad)).reshape(-1, 4)[:, 0]
        assert (pixels > 128).sum() >= 25, "the strokes drew nothing"
        map_ = draw.find_element(By.CLASS_NAME, "map")
        mu, logvar = (np.array(json.loads(map_.get_attribute(a))) for a in ("data-mu", "data-logvar"))
        model = load_model(root / "runs" / option)
        with torch.no_grad():
            t_mu, t_logvar = model.encode(torch.tensor(pixels / 255, dtype=torch.float32).reshape(1, 1, 28, 28))
        gap = max(np.abs(mu - t_mu[0].numpy()).max(), np.abs(logvar - t_logvar[0].numpy()).max())
        assert gap <= export.ENCODER_TOLERANCE, f"{option}: the page's encoding is {gap:.4f} from torch's"


def test_interpolation_ends_are_the_two_images_decodings(site, browser):
    root, page = site
    open_page(browser, page)
    between = browser.find_element(By.CSS_SELECTOR, "[data-explorer=interpolation]")
    a, b = 3, 11
    for name, image in (("image-a", a), ("image-b", b)):
        field = between.find_element(By.CLASS_NAME, name)
        field.clear()
        field.send_keys(str(image), Keys.ENTER)
    x_test, _ = data.load("mnist", train=False, limit=export.TEST_IMAGES)
    slider = between.find_element(By.CLASS_NAME, "slider-t")
    for key, image in ((Keys.HOME, a), (Keys.END, b)):
        slider.send_keys(key)
        grey, z = canvas(browser, between.find_element(By.CLASS_NAME, "digit"))
        run = root / "runs" / Select(between.find_element(By.CLASS_NAME, "model")).first_selected_option.get_attribute("value")
        model = load_model(run)
        with torch.no_grad():
            mean = model.encode(x_test[image:image + 1])[0][0].tolist()
        assert np.abs(grey - torch_grey(run, mean)).max() <= 1, f"t at {key!r}: not image {image}'s decoding"


def test_the_page_loads_only_files_and_data_and_logs_no_error(exported, browser):
    which, _, page = exported
    open_page(browser, page)
    embedding = browser.find_element(By.CSS_SELECTOR, "[data-explorer=embedding]")
    embedding.find_element(By.CLASS_NAME, "map").click()                 # a real click picks a point
    assert embedding.get_attribute("data-picked") is not None
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"
                                    ".concat(Array.from(document.scripts, s => s.src).filter(Boolean))")
    assert loaded and all(u.startswith(("file:", "data:")) for u in loaded), loaded
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    (SCREENSHOTS / which).mkdir(parents=True, exist_ok=True)
    for element in browser.find_elements(By.CSS_SELECTOR, "[data-explorer]"):
        browser.execute_script("arguments[0].scrollIntoView()", element)
        element.screenshot(str(SCREENSHOTS / which / f"site_{element.get_attribute('data-explorer')}.png"))


def test_without_models_js_each_explorer_says_so_in_one_line(site, browser, tmp_path):
    _, page = site
    (tmp_path / "index.html").write_text(page.read_text())                 # published without models.js
    open_page(browser, tmp_path / "index.html")
    for root in browser.find_elements(By.CSS_SELECTOR, "[data-explorer]"):
        status = root.find_element(By.CLASS_NAME, "status").text
        if root.get_attribute("data-explorer") == "place":                 # it reads the page's own facts
            continue
        assert "models.js" in status and "\n" not in status, (root.get_attribute("data-explorer"), status)


def test_the_check_sees_a_stale_page_and_other_weights(site):
    root, page = site
    assert build.check(root / "REPORT.md", root / "results", page.parent) == []
    (root / "REPORT.md").write_text(REPORT + "\n## Another section\n")
    assert any("differs" in p for p in build.check(root / "REPORT.md", root / "results", page.parent))
    (root / "REPORT.md").write_text(REPORT)
    table = pd.read_csv(root / "results" / "weights.csv")
    table.loc[0, "weights_sha256"] = "0" * 64
    table.to_csv(root / "results" / "weights.csv", index=False)
    problems = build.check(root / "REPORT.md", root / "results", page.parent)
    stale = [p for p in problems if "weights (" in p]
    assert len(stale) == 1 and table.loc[0, "run"] in stale[0]
    assert any("results/weights.csv is not a copy" in p for p in problems)    # site/'s own copy is stale too


def test_an_unknown_decoder_layer_is_refused_by_name():
    decoder = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh())
    with pytest.raises(export.UnknownLayer, match=r"decoder layer 1 \(Tanh\(\)\)"):
        export.decoder_layers(decoder)


@pytest.fixture
def committed_page(browser):
    """The committed site/index.html (or $VAELIB_SITE_PAGE), which needs no runs: what a reader opens."""
    page = Path(os.environ.get("VAELIB_SITE_PAGE") or PROJECT / "site" / "index.html")
    if not page.is_file():
        pytest.skip("no committed site/ (make site writes it)")
    yield page
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def luminance(rgb) -> float:
    c = [v / 255 for v in rgb]
    c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def contrast(a, b) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_page_on_a_phone_and_for_every_reader(committed_page, browser):
    """At 390 x 844 (a phone, emulated by Chromium) the page lays out at the phone's width, never scrolls
    sideways, and every visible control is at least 24 px; every <img> has alt text; the legends' text has a
    contrast of at least 4.5:1 with what is behind it (WCAG's formula). Screenshots at both sizes."""
    open_page(browser, committed_page)
    images = browser.execute_script("return Array.from(document.images, i => [i.getAttribute('src'), i.alt.trim()])")
    assert images and all(alt for _, alt in images), [src for src, alt in images if not alt]
    outside = [src for src, _ in images if not (committed_page.parent / src).resolve().is_relative_to(committed_page.parent)
               or not (committed_page.parent / src).is_file()]
    assert not outside, f"figures not inside site/ (it breaks published alone): {outside[:3]}"
    levels = browser.execute_script("return Array.from(document.querySelectorAll('h1,h2,h3,h4,h5,h6'), "
                                    "h => [+h.tagName[1], h.id])")
    assert all(b <= a + 1 for (a, _), (b, _) in zip(levels, levels[1:])), "a heading skips a level"
    assert all(ident for level, ident in levels if level > 1), "a heading without an id"
    colours = browser.execute_script("""
        const rgb = s => s.match(/[0-9.]+/g).slice(0, 4).map(Number);
        const behind = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
                                if (c.length < 4 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
        return Array.from(document.querySelectorAll('.legend, .legend *')).filter(e =>
            Array.from(e.childNodes).some(n => n.nodeType === 3 && n.textContent.trim()))
          .map(e => [e.textContent.trim(), rgb(getComputedStyle(e).color).slice(0, 3), behind(e)])""")
    assert colours, "no legend on the page"
    low = [(text, round(contrast(fg, bg), 2)) for text, fg, bg in colours if contrast(fg, bg) < 4.5]
    assert not low, f"legend text under 4.5:1 contrast: {low}"
    shots = SCREENSHOTS / "committed"
    shots.mkdir(parents=True, exist_ok=True)
    for element in browser.find_elements(By.CSS_SELECTOR, "[data-explorer]"):
        browser.execute_script("arguments[0].scrollIntoView()", element)
        element.screenshot(str(shots / f"desktop_{element.get_attribute('data-explorer')}.png"))
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    open_page(browser, committed_page)
    width, scroll = browser.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
    assert width == 390, f"the page is laid out {width} px wide on a 390 px screen (no viewport?)"
    assert scroll <= 390, f"the page scrolls sideways at 390 px: {scroll} px wide"
    small = browser.execute_script("""return Array.from(document.querySelectorAll('input, select, button, textarea'))
        .filter(e => e.offsetParent).map(e => [e.className || e.tagName, e.getBoundingClientRect().height,
                                               e.getBoundingClientRect().width])
        .filter(([_, h, w]) => h < 24 || w < 24)""")
    assert not small, f"controls under 24 px at 390 x 844: {small[:5]}"
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",      # as tall as an explorer, for whole screenshots
                            {"width": 390, "height": 1900, "deviceScaleFactor": 1, "mobile": True})
    for element in browser.find_elements(By.CSS_SELECTOR, "[data-explorer]"):
        browser.execute_script("arguments[0].scrollIntoView()", element)
        element.screenshot(str(shots / f"phone_{element.get_attribute('data-explorer')}.png"))


def test_your_run_is_placed_among_the_committed_seeds(committed_page, browser):
    """The "your run" box, given a committed seed's final test loss (results/final_by_seed.csv), draws it at
    that seed's own dot; a seed the report's collapse rule flags is flagged; bad input is refused in one line."""
    final = collapse.flag(tables.read(PROJECT / "results" / "final_by_seed.csv"))
    setting = final[(final["arch"] == "conv") & (final["latent_dim"] == 10)]
    bad, good = setting[setting["collapsed"]].iloc[0], setting[~setting["collapsed"]].iloc[0]
    open_page(browser, committed_page)
    box = browser.find_element(By.CSS_SELECTOR, "[data-explorer=place]")
    Select(box.find_element(By.CLASS_NAME, "arch")).select_by_value("conv")
    Select(box.find_element(By.CLASS_NAME, "dim")).select_by_value("10")
    loss = box.find_element(By.CLASS_NAME, "loss")
    for row in (bad, good):
        loss.clear()
        loss.send_keys(f"{row['test_loss']:.4f}")
        box.find_element(By.CLASS_NAME, "go").click()
        yours = box.find_element(By.CSS_SELECTOR, "circle.yours")
        dot = box.find_element(By.CSS_SELECTOR, f"circle[data-seed='{int(row['seed'])}']")
        assert abs(float(yours.get_attribute("cx")) - float(dot.get_attribute("cx"))) < 1e-6
        verdict = box.find_element(By.CLASS_NAME, "verdict").text
        assert f"the loss of seed {int(row['seed'])}" in verdict
        assert ("looks collapsed" in verdict) == bool(row["collapsed"]), verdict
        assert box.text.count(verdict) == 1, box.text          # said once, not again in a label under it
        if row is bad:
            (SCREENSHOTS / "committed").mkdir(parents=True, exist_ok=True)
            browser.execute_script("arguments[0].scrollIntoView()", box)
            box.screenshot(str(SCREENSHOTS / "committed" / "desktop_place.png"))
    box.find_element(By.CLASS_NAME, "csv").send_keys("arch,latent_dim,test_loss\nmlp,2,100")
    box.find_element(By.CLASS_NAME, "go-csv").click()
    error = box.find_element(By.CLASS_NAME, "error").text
    assert error.startswith("CSV line 2: arch \"mlp\"") and "allowed: linear d=2" in error and "\n" not in error
    loss.clear()
    loss.send_keys("abc")
    box.find_element(By.CLASS_NAME, "go").click()
    assert box.find_element(By.CLASS_NAME, "error").text.startswith("final test loss: \"abc\" is not allowed")


def test_compare_places_a_run_by_the_committed_results(tmp_path, capsys):
    """`python -m vaelib compare` on a CSV: each committed seed's loss is that seed's, collapsed where the rule
    says; a CSV without the columns is refused in one line naming them."""
    final = collapse.flag(tables.read(PROJECT / "results" / "final_by_seed.csv"))
    rows = final[(final["arch"] == "conv") & (final["latent_dim"] == 10)]
    rows[["arch", "latent_dim", "seed", "test_loss"]].to_csv(tmp_path / "mine.csv", index=False)
    assert cli.main(["compare", str(tmp_path / "mine.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows.itertuples()):
        assert f"the loss of seed {row.seed};" in line and ("looks collapsed" in line) == row.collapsed, line
    (tmp_path / "bad.csv").write_text("arch,loss\nconv,100\n")
    assert cli.main(["compare", str(tmp_path / "bad.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "latent_dim, test_loss" in err


@pytest.mark.filterwarnings("error::RuntimeWarning")    # numpy warned on the spread of one seed
def test_compare_against_a_one_seed_report_says_it_has_no_interval(tmp_path, capsys):
    """A report of one seed (the quick look) has no spread to predict one more run from: its settings carry no
    prediction interval (the page's explorer and `compare` say so in words), not NaN."""
    final = tables.read(PROJECT / "results" / "final_by_seed.csv")
    (tmp_path / "results").mkdir()
    final[final["seed"] == 0].to_csv(tmp_path / "results" / "final_by_seed.csv", index=False)
    setting = collapse.settings(final[final["seed"] == 0])["conv_10"]
    assert setting["pi"] is None and collapse.place(setting, setting["losses"][0])["inside_pi"] is None
    mine = final[(final["arch"] == "conv") & (final["latent_dim"] == 10) & (final["seed"] == 0)]
    mine[["arch", "latent_dim", "seed", "test_loss"]].to_csv(tmp_path / "mine.csv", index=False)
    assert cli.main(["compare", str(tmp_path / "mine.csv"), "--results", str(tmp_path / "results")]) == 0
    line = capsys.readouterr().out.strip()
    assert "the loss of seed 0; no 95% prediction interval (one committed seed); " in line, line
