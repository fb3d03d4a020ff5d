"""Notebook 03 in a real JupyterLab, driven by a real headless Chromium (Debian's, through selenium).

Run alone: `make test-browser` (or `.venv/bin/python -m pytest tests/test_browser.py`). Screenshots go to
the folder named by $VAELIB_SCREENSHOTS (default: screenshots/ in the project). Needs `chromium` and
`chromedriver` (Debian: apt-get install chromium chromium-driver; `make browser` does it); without them
the test is skipped, except under CI, where that is a failure.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import papermill
import pytest

from vaelib.infra.paths import PROJECT

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOTS = Path(os.environ.get("VAELIB_SCREENSHOTS") or PROJECT / "screenshots")
SMALL_SWEEP = {"archs": ["linear", "conv"], "dims": [2, 5], "seeds": [0], "datasets": ["mnist"], "iwae_k": 10}

if not (CHROMIUM and DRIVER):
    if os.environ.get("CI"):
        pytest.fail("chromium and chromedriver are needed for the browser test: run `make browser`",
                    pytrace=False)
    pytest.skip("no chromium/chromedriver (make browser installs them)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on localhost with a token, serving a copy of notebook 03 set to a small sweep."""
    root = tmp_path / "lab"
    root.mkdir()
    papermill.inspect_notebook(PROJECT / "notebooks" / "03_explore_latent_space.ipynb")   # it has parameters
    nb = papermill.parameterize.parameterize_notebook(
        papermill.iorw.load_notebook_node(str(PROJECT / "notebooks" / "03_explore_latent_space.ipynb")),
        {"sweep": SMALL_SWEEP, "smoke_test": True})
    papermill.iorw.write_ipynb(nb, str(root / "03.ipynb"))
    port, token = free_port(), secrets.token_hex(16)
    settings = tmp_path / "lab-settings"      # a user's settings: no "get notified about news?" pop-up
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false"}')
    env = {**os.environ, "CI": "true", "VAELIB_SMOKE_ROOT": str(tmp_path / "smoke"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"), "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.allow_root=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"JupyterLab did not start: {(tmp_path / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield f"{url}/lab/tree/03.ipynb?token={token}"
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    os.environ["SE_OFFLINE"] = "true"          # selenium never fetches a driver: Debian's is given
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def busy_cells(driver) -> int:
    """Cells still queued or running (JupyterLab shows them as [*])."""
    return driver.execute_script(
        "return [...document.querySelectorAll('.jp-InputPrompt')].filter(p => p.textContent.includes('*')).length")


@pytest.mark.slow
def test_notebook_03_runs_in_jupyterlab_and_the_slider_changes_the_digit(lab, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.get(lab)
    wait = WebDriverWait(browser, 120)
    wait.until(lambda d: d.execute_script(
        "const app = window.jupyterapp; const w = app && app.shell.currentWidget;"
        "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
        " && w.sessionContext.session.kernel.status === 'idle');"))
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    WebDriverWait(browser, 30).until(lambda d: busy_cells(d) > 0)
    WebDriverWait(browser, 600, poll_frequency=1).until(lambda d: busy_cells(d) == 0)
    images = WebDriverWait(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "img.widget-image") or False)
    slider = browser.find_elements(By.CSS_SELECTOR, ".widget-slider .noUi-handle")[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", images[0])
    time.sleep(1)
    browser.save_screenshot(str(SCREENSHOTS / "03_after_run_all.png"))

    errors = browser.execute_script(
        "return [...document.querySelectorAll('.jp-OutputArea-output')]"
        ".filter(o => o.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr'"
        " && /Error|Traceback/.test(o.textContent)).map(o => o.textContent.slice(0, 500))")
    assert errors == [], errors
    prompts = browser.execute_script(
        "return [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent)")
    assert prompts and all(any(ch.isdigit() for ch in p) for p in prompts), prompts   # every cell ran

    before = images[0].get_attribute("src")
    slider.click()
    start = time.perf_counter()
    slider.send_keys(Keys.ARROW_RIGHT * 8)
    WebDriverWait(browser, 30, poll_frequency=0.01).until(lambda d: images[0].get_attribute("src") != before)
    round_trip_ms = 1000 * (time.perf_counter() - start)      # key press to new picture, kernel included
    time.sleep(0.5)
    browser.save_screenshot(str(SCREENSHOTS / "03_after_slider.png"))
    status = browser.find_elements(By.CSS_SELECTOR, ".widget-label")
    assert any("last update" in s.text for s in status), [s.text for s in status]
    (SCREENSHOTS / "browser_test.json").write_text(json.dumps(
        {"screenshots": ["03_after_run_all.png", "03_after_slider.png"], "chromium": CHROMIUM,
         "status_line": next(s.text for s in status if "last update" in s.text),
         "first_picture_change_ms": round_trip_ms}, indent=1))
