"""The web page in a real browser: Debian's headless Chromium, driven by selenium, against a
real ``ltrr serve``. Type a query, choose a result with the keyboard (a click is logged), report
a miss through "found it elsewhere", and watch the dashboard's counts follow; axe-core checks
both pages for serious or critical accessibility violations.

Needs ``/usr/bin/chromium``, ``/usr/bin/chromedriver`` (``apt-get install chromium
chromium-driver``), selenium, and axe-core (fetched with npm into ``~/.cache/ltrr/axe``, or
``$LTRR_AXE_DIR``); skipped with the reason when one is missing. Screenshots go to
``$LTRR_SCREENSHOTS`` (default: the test's temporary folder), printed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ltrr.config import load_config
from ltrr.storage.datadir import DataDir
from ltrr.types import Entity, EntityId

SRC = Path(__file__).resolve().parents[3] / "src"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE_VERSION = "4.14.1"
WORDS = ["love", "night", "blue", "summer", "rain", "drive", "gem", "story", "monday", "dream"]
WAIT_S = 10.0


def _axe_source() -> str:
    """axe-core's ``axe.min.js``, fetched once with npm into a cache outside the repository."""
    cache = Path(os.environ.get("LTRR_AXE_DIR", Path.home() / ".cache" / "ltrr" / "axe"))
    script = cache / "node_modules" / "axe-core" / "axe.min.js"
    version_file = script.parent / "package.json"
    if not (script.exists() and f'"version": "{AXE_VERSION}"' in version_file.read_text()):
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: cannot fetch axe-core")
        cache.mkdir(parents=True, exist_ok=True)
        command = [npm, "install", "--no-save", "--prefix", str(cache), f"axe-core@{AXE_VERSION}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
        if done.returncode != 0 or not script.exists():
            pytest.skip(f"could not fetch axe-core {AXE_VERSION} with npm: {done.stderr[-300:]}")
    return script.read_text()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip("needs /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium "
                    "chromium-driver)")  # fmt: skip
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1100", "--lang=en-US"):  # fmt: skip
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(options=options, service=service)  # no selenium-manager lookup
    try:
        yield driver
    finally:
        driver.quit()


def _build(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "ltrr.toml").write_text(
        '[select]\nstrategies = ["lexical", "fuzzy", "memory"]\n'
        "[learn]\nsettle_s = 0.0\n"  # lessons taught at the next event: charts fill at once
    )
    entities = [
        Entity(
            id=EntityId(f"e{i:03d}"),
            type=("track", "album", "playlist")[i % 3],
            title=f"{WORDS[i % 10].title()} {WORDS[i // 10 % 10].title()} {i}",
            fields={"artist": f"Artist {('one', 'two', 'three')[i % 3]} {i % 17}"},
            popularity=float(i % 11),
        )
        for i in range(100)
    ]
    with DataDir(path, load_config(data_dir=path), writer=True) as dd, dd.catalog.change() as c:
        c.upsert(entities)
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A keyless ``ltrr serve`` on loopback; killed when the test ends."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}
    env.pop("LTRR_SEARCH_KEYS", None)
    env.pop("LTRR_ADMIN_KEYS", None)
    data = _build(tmp_path / "data")
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "ltrr.cli.app", "serve", "--data", str(data),
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _ready(url), 60, lambda: log.read_text(errors="replace")[-2000:])
        yield url
    finally:
        process.kill()
        process.wait(timeout=30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _until(
    check: Callable[[], object], timeout_s: float = WAIT_S, why: Callable[[], str] = str
) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s} s {why()}")


def _text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, css)
    return str(found[0].text) if found and found[0].is_displayed() else ""


def _axe(driver: Any, source: str) -> list[dict[str, Any]]:
    driver.execute_script(source)
    script = (
        "const done = arguments[arguments.length - 1];"
        "axe.run().then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,"
        " help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))));"
    )
    violations: list[dict[str, Any]] = driver.execute_async_script(script)
    return violations


def _serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def _kinds(url: str) -> dict[str, int]:
    kinds: dict[str, int] = httpx.get(f"{url}/v1/stats").json()["log"]["n_actions_by_kind"]
    return kinds


def test_search_click_found_elsewhere_and_dashboard(
    browser: Any, server: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    axe = _axe_source()
    shots = Path(os.environ.get("LTRR_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    browser.set_script_timeout(30)

    browser.get(f"{server}/dashboard")  # before: nothing logged
    _until(lambda: _text(browser, '[data-stat="log.n_actions"]') == "0")

    browser.get(f"{server}/")
    query = browser.find_element(By.ID, "q")
    query.send_keys("night drive")
    first = _until(lambda: _text(browser, "#results-0"))
    assert "Night Drive" in first and "#1" in first  # title and a strategy's rank badge
    query.send_keys(Keys.ARROW_DOWN)
    assert query.get_attribute("aria-activedescendant") == "results-0"
    query.send_keys(Keys.ENTER)
    _until(lambda: "recorded" in _text(browser, "#status"))
    _until(lambda: _kinds(server).get("click") == 1)
    browser.save_screenshot(str(shots / "search.png"))
    violations = _axe(browser, axe)
    assert not _serious(violations), violations

    browser.find_element(By.ID, "elsewhere").click()
    picker = browser.find_element(By.ID, "pick-q")
    assert browser.switch_to.active_element == picker
    n_searches = httpx.get(f"{server}/v1/stats").json()["log"]["n_impressions"]
    picker.send_keys("blue monday")
    _until(lambda: "Blue Monday 82" in _text(browser, "#pick-list"))
    browser.save_screenshot(str(shots / "picker.png"))
    wanted = '//li[@role="option"][.//span[text()="Blue Monday 82"]]'
    browser.find_element(By.XPATH, wanted).click()
    _until(lambda: "Found elsewhere" in _text(browser, "#status"))
    _until(lambda: _kinds(server) == {"click": 1, "found": 1})
    stats = httpx.get(f"{server}/v1/stats").json()
    assert stats["log"]["n_impressions"] == n_searches  # the picker logged no search

    browser.get(f"{server}/dashboard")
    _until(lambda: _text(browser, '[data-stat="log.n_actions"]') == "2")
    _until(lambda: "night drive" in _text(browser, "#recent"))
    _until(lambda: _text(browser, "#mix figure"))  # a plan-mix chart per intent
    assert "/v1/search" in _text(browser, "#latency")
    # the dashboard refreshes itself: a search made elsewhere shows up
    body = httpx.post(f"{server}/v1/search", json={"query": "summer rain"}).json()
    assert body["request_id"]
    _until(lambda: "summer rain" in _text(browser, "#recent"))
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 160, 4000))  # the whole page in one shot
    browser.save_screenshot(str(shots / "dashboard.png"))
    violations = _axe(browser, axe)
    assert not _serious(violations), violations
    print(f"\nscreenshots in {shots}")
