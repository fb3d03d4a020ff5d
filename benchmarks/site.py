"""How heavy is the static site, how soon is it usable, and how live does it feel?

    python -m benchmarks.site [--page site/index.html] [--moves 100] [--runs-dir runs] [--loads 5]

First what each part of site/ costs on disk (the page, models.js's decoders, encoders, test codes and images,
the copied figures and results/) against the 25 MB budget, and the time to interactive: the milliseconds
from navigation start until the explorers are ready (window.VAE_READY_MS), median of `--loads` fresh loads
(the target: 1.5 s). Then each slider move's decode in the browser, beside the kernel's explorer:

Opens the page from file:// in headless Chromium (Debian's chromium and chromedriver), selects each model of
the latent explorer and moves its x slider by `--moves` real key presses; the page records each decode's
milliseconds (window.VAE_TIMINGS: the JavaScript decoder and the canvas write). Prints the median and 95th
percentile per model, and beside them what a move costs in the notebook's kernel explorer
(vaelib.notebook.explore, decode + PNG + marker, as benchmarks/explore.py measures it) for the same run.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import torch

from vaelib.config.sweep import Sweep
from vaelib.data import datasets as data
from vaelib.infra import paths
from vaelib.notebook import explore
from vaelib.site import export

BUDGET_MB = 25
TTI_TARGET_S = 1.5


def sizes(site: Path) -> list[tuple[str, int]]:
    """(part, bytes) of a site/ folder: models.js split by what it carries."""
    data, script = export.read_script(site / "models.js"), (site / "models.js").stat().st_size
    models = data["models"].values()

    def weights(part):                 # base64 characters of the weights: each run's decoder or its encoder
        nets = [m if part == "decoder" else m.get("encoder") or {"layers": []} for m in models]
        return sum(len(layer[k]) for net in nets for layer in net["layers"] for k in ("w", "b") if k in layer)
    parts = [("index.html", (site / "index.html").stat().st_size),
             ("models.js: decoders", weights("decoder")), ("models.js: encoders", weights("encoder")),
             ("models.js: test codes", sum(len(m["codes"]) for m in models)),
             ("models.js: test images", len(data["images"]))]
    parts.append(("models.js: the rest (labels, manifest)", script - sum(n for p, n in parts[1:])))
    for folder in ("figures", "results"):
        parts.append((f"{folder}/", sum(f.stat().st_size for f in (site / folder).glob("*") if f.is_file())))
    return parts


def time_to_interactive(driver, page: Path, loads: int) -> list[float]:
    import time
    out = []
    for _ in range(loads):
        driver.get("about:blank")
        driver.get(page.as_uri())
        for _ in range(400):
            ms = driver.execute_script("return window.VAE_READY_MS")
            if ms is not None:
                out.append(ms / 1000)
                break
            time.sleep(0.01)
    return out


def browser():
    from selenium import webdriver
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=webdriver.ChromeService(shutil.which("chromedriver")), options=options)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.site", description=__doc__)
    parser.add_argument("--page", default=str(paths.PROJECT / "site" / "index.html"))
    parser.add_argument("--runs-dir", default=str(paths.PROJECT / "runs"))
    parser.add_argument("--moves", type=int, default=100)
    parser.add_argument("--loads", type=int, default=5, help="fresh page loads timed to interactive")
    args = parser.parse_args(argv)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    page = Path(args.page).resolve()
    records = export.manifest(export.read_script(page.parent / "models.js"))
    first = [m for m in records if m["seed"] == min(r["seed"] for r in records)]
    kernel = None
    if all((Path(args.runs_dir) / m["run"] / "weights.pt").is_file() for m in first):
        x_test, y_test = data.load("mnist", train=False)
        sweep = Sweep()
        kernel = explore.LatentExplorer(args.runs_dir, [sweep.config(m["arch"], m["latent_dim"], m["seed"]) for m in first],
                                        x_test, y_test)
    parts = sizes(page.parent)
    total = sum(n for _, n in parts)
    print("| part of site/ | MB |\n|---|---|")
    for name, n in parts:
        print(f"| {name} | {n / 1e6:.2f} |")
    print(f"| **all of site/** | **{total / 1e6:.2f}** (budget {BUDGET_MB} MB: {'within' if total <= BUDGET_MB * 1e6 else 'OVER'}) |")
    driver = browser()
    try:
        tti = time_to_interactive(driver, page, args.loads)
        print(f"\ntime to interactive (navigation start to explorers ready), {len(tti)} loads: median "
              f"{np.median(tti):.2f} s, max {max(tti):.2f} s (target {TTI_TARGET_S} s: "
              f"{'met' if np.median(tti) <= TTI_TARGET_S else 'NOT met'}); browser {driver.capabilities.get('browserVersion')}\n")
        driver.get(page.as_uri())
        driver.implicitly_wait(5)
        latent = driver.find_element(By.CSS_SELECTOR, "[data-explorer=latent]")
        models = Select(latent.find_element(By.CLASS_NAME, "model"))
        print(f"{args.moves} slider moves per model; browser: {driver.capabilities.get('browserVersion')}; "
              f"kernel: torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
        print("| model | weights | browser decode: median / p95 ms | kernel explorer move: median / p95 ms |")
        print("|---|---|---|---|")
        for record in first:
            models.select_by_value(record["run"])
            slider = latent.find_element(By.CLASS_NAME, "slider-x")
            slider.send_keys(Keys.HOME)
            driver.execute_script("window.VAE_TIMINGS = []")
            for _ in range(args.moves):
                slider.send_keys(Keys.ARROW_RIGHT)
            ms = np.array(driver.execute_script("return window.VAE_TIMINGS"))
            side = "n/a (no runs)"
            if kernel is not None:
                kernel.model.value = record["run"]
                kernel.latencies_ms.clear()
                for v in np.linspace(-3, 3, args.moves):
                    kernel.z1.value = float(round(v, 2))
                side = f"{np.median(kernel.latencies_ms):.2f} / {np.percentile(kernel.latencies_ms, 95):.2f}"
            print(f"| {record['run']} | {record['precision']} | {np.median(ms):.2f} / {np.percentile(ms, 95):.2f} "
                  f"({len(ms)} moves) | {side} |")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
