"""How live does the static site feel? Time each slider move's decode in the browser, beside the kernel's explorer.

    python -m benchmarks.site [--page site/index.html] [--moves 100] [--runs-dir runs]

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
    driver = browser()
    try:
        driver.get(page.as_uri())
        driver.implicitly_wait(5)
        latent = driver.find_element(By.CSS_SELECTOR, "[data-explorer=latent]")
        models = Select(latent.find_element(By.CLASS_NAME, "model"))
        print(f"{args.moves} slider moves per model; browser: {driver.capabilities.get('browserVersion')}; "
              f"kernel: torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
        print("| model | weights | browser decode: median / p95 ms | kernel explorer move: median / p95 ms |")
        print("|---|---|---|---|")
        for index, record in enumerate(first):
            models.select_by_index(index)
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
