"""The static site in a real headless Chromium (Debian's, through selenium), opened from file:// with no flag
that relaxes file access: every exported decoder, moved by real key presses, draws what torch decodes.

Trains a small sweep's runs (real MNIST, real steps), exports them with `vaelib.site`, and checks: the
digit canvases against torch's decoding of the z each canvas records, within one grey level; the
interpolation's ends against the decodings of the two images' means; no console error; every resource the
page loaded is a file: or data: URL; `--check` sees a stale page and a changed run. Screenshots of each
explorer go to $VAELIB_SCREENSHOTS/smoke (default: screenshots/), and of the committed site/, checked the same way
where its runs are in runs/, to $VAELIB_SCREENSHOTS/committed.
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
    assert len(models.options) == len(first) == len({m["arch"] for m in first}) * len({m["latent_dim"] for m in first})
    for option_index, record in enumerate(first):
        models.select_by_index(option_index)
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


def test_interpolation_ends_are_the_two_images_decodings(site, browser):
    root, page = site
    open_page(browser, page)
    between = browser.find_element(By.CSS_SELECTOR, "[data-explorer=interpolation]")
    a, b = 3, 11
    Select(between.find_element(By.CLASS_NAME, "image-a")).select_by_value(str(a))
    Select(between.find_element(By.CLASS_NAME, "image-b")).select_by_value(str(b))
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
    assert len(problems) == 1 and table.loc[0, "run"] in problems[0]


def test_an_unknown_decoder_layer_is_refused_by_name():
    decoder = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh())
    with pytest.raises(export.UnknownLayer, match=r"decoder layer 1 \(Tanh\(\)\)"):
        export.decoder_layers(decoder)
