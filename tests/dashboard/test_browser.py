"""End to end in headless Chromium: start ``molgen dashboard``, generate molecules, see the drawings.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``scripts/install.sh --browser``)
and selenium. Screenshots go to ``test-artifacts/`` for a human to look at.
"""

from __future__ import annotations

import base64
import contextlib
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from molgen.paths import ROOT

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SERVER_OUTPUT: dict[str, list[str]] = {}  # each running dashboard's output so far, by URL

pytestmark = pytest.mark.browser

def _require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install chromium chromium-driver, "
                    "or scripts/install.sh --browser)")
    pytest.importorskip("selenium", reason="selenium not installed (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def models_dir(tiny_models_dir) -> Path:
    """The tiny trained GVAE stands in for data/models (checked for a browser first)."""
    _require_browser()
    return tiny_models_dir


@contextlib.contextmanager
def _dashboard(models_dir: Path, home: Path):
    """``molgen dashboard`` in a subprocess; yields its URL once it prints it, stops it afterwards.

    It runs with the empty home folder ``home``, as on a fresh clone: Streamlit keeps its disk caches
    (the training-set properties) under ``~/.streamlit``, and a warm cache hid the first-tick overlay bug."""
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", HOME=str(home))
    proc = subprocess.Popen(
        [sys.executable, "-m", "molgen.cli", "dashboard", "--models-dir", str(models_dir)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def read() -> None:  # the whole output is kept: a failing step shows what the server printed
        for line in proc.stdout:
            seen.append(line)
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    url = None
    deadline = time.monotonic() + 180
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line.startswith("molgen dashboard: http://127.0.0.1:"):
            url = line.split()[2]
    try:
        if url is None:
            pytest.fail("the dashboard did not print its URL within 180 s; its output:\n" + "".join(seen[-40:]))
        SERVER_OUTPUT[url] = seen
        yield url
    finally:
        SERVER_OUTPUT.pop(url, None)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def dashboard_url(models_dir, tmp_path_factory):
    """One dashboard for the module's tests."""
    with _dashboard(models_dir, tmp_path_factory.mktemp("home")) as url:
        yield url


@pytest.fixture
def fresh_dashboard_url(models_dir, tmp_path):
    """A dashboard of its own with cold caches, for what happens on first use."""
    home = tmp_path / "home"
    home.mkdir()
    with _dashboard(models_dir, home) as url:
        yield url


@pytest.fixture(scope="module")
def driver(dashboard_url, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--no-first-run", "--disable-component-update", "--disable-sync",
                 "--window-size=1600,1400", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(120)
    yield drv
    drv.quit()


def _wait(drv, condition, timeout: float, what: str):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(drv, timeout, poll_frequency=0.5).until(condition)
    except TimeoutException:
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "dashboard-failure.png"
        drv.save_screenshot(str(shot))
        text = drv.find_element("tag name", "body").text[-1500:]
        server = next((out for url, out in SERVER_OUTPUT.items() if drv.current_url.startswith(url.rstrip("/"))), [])
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; screenshot {shot}; page text:\n{text}"
                    "\n--- the dashboard's last output:\n" + "".join(server[-40:]))


SVG_IMAGES = ".molgen-card img[src^='data:image/svg+xml']"


def _decoded(drv) -> int:
    """How many molecule images the browser has loaded and laid out with a non-zero size."""
    return int(drv.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 50).length;",
        SVG_IMAGES,
    ))


def _button(drv, label: str):
    """The visible button labelled ``label``; None while absent or while a rerun redraws the page."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        for b in drv.find_elements(By.TAG_NAME, "button"):
            if b.text.strip() == label and b.is_displayed():
                return b
    except StaleElementReferenceException:
        return None
    return None


def _full_page_screenshot(drv, path: Path) -> None:
    """Grow the window to the page's height so the screenshot shows the whole grid."""
    height = drv.execute_script(
        "const m = document.querySelector('section.main, [data-testid=\"stMain\"]');"
        "return Math.max(document.body.scrollHeight, m ? m.scrollHeight : 0);"
    )
    drv.set_window_size(1600, min(max(int(height) + 200, 1400), 4000))
    time.sleep(1.0)
    drv.save_screenshot(str(path))


def test_generate_and_inspect_in_chromium(driver, dashboard_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "dashboard-failure.png").unlink(missing_ok=True)
    driver.get(dashboard_url)
    generate = _wait(driver, lambda d: _button(d, "Generate"), 120, "the Generate button")
    n_field = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "input[aria-label='Number of molecules']"),
                    60, "the number field")[0]  # a loaded machine may draw the form's parts apart
    n_field.send_keys(Keys.CONTROL, "a")  # React inputs ignore clear(): select all and type over it
    n_field.send_keys("24", Keys.TAB)
    _wait(driver, lambda d: n_field.get_attribute("value") == "24", 30, "the number field to read 24")
    generate.click()
    cards = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".molgen-card") or None, 180,
                  "the grid of generated molecules")
    # Valid only is on by default: the grid shows the valid ones among the 24 strings.
    shown = re.search(r"(\d+) of 24 generated strings shown", driver.find_element(By.TAG_NAME, "body").text)
    assert shown, "the caption should say how many of the 24 strings are shown"
    n_valid = int(shown.group(1))
    assert len(cards) == n_valid, f"expected {n_valid} molecule cards on the first page, got {len(cards)}"
    images = driver.find_elements(By.CSS_SELECTOR, SVG_IMAGES)
    assert len(images) == n_valid, "every card should hold an SVG depiction"
    _wait(driver, lambda d: _decoded(d) == n_valid, 60, f"the browser to decode all {n_valid} SVG images")
    assert "Valid" in driver.find_element(By.TAG_NAME, "body").text
    _full_page_screenshot(driver, ARTIFACTS / "dashboard-generate.png")

    # Inspect: the example drugs are drawn as real molecules (bonds are SVG paths), with properties.
    driver.set_window_size(1600, 1400)
    driver.get(dashboard_url.rstrip("/") + "/inspect")
    _wait(driver, lambda d: _decoded(d) == 6, 180, "drawings of the example molecules on the Inspect page")
    cards = driver.find_elements(By.CSS_SELECTOR, ".molgen-card")
    assert len(cards) == 6
    assert not driver.find_elements(By.CSS_SELECTOR, ".molgen-card img.molgen-invalid")
    src = driver.find_element(By.CSS_SELECTOR, SVG_IMAGES).get_attribute("src")
    svg = base64.b64decode(src.split(",", 1)[1]).decode()
    assert svg.startswith("<svg") and svg.count("<path") > 10, "the aspirin drawing should have bonds"
    assert "QED" in cards[0].text and "aspirin" in cards[0].text
    _full_page_screenshot(driver, ARTIFACTS / "dashboard-inspect.png")
    assert (ARTIFACTS / "dashboard-inspect.png").stat().st_size > 10_000


def _text_input(drv, label: str):
    from selenium.webdriver.common.by import By

    return drv.find_element(By.CSS_SELECTOR, f"input[aria-label='{label}']")


def _open_expander(drv, title: str) -> None:
    from selenium.webdriver.common.by import By

    for summary in drv.find_elements(By.TAG_NAME, "summary"):
        if title in summary.text:
            summary.click()
            return
    pytest.fail(f"no expander titled {title!r}")


def test_substructure_filter_and_export_in_chromium(driver, dashboard_url, tmp_path):
    """Issue 18: the substructure filter narrows the grid and highlights the match; the CSV download
    is the CLI writer's table (id first, same order as the grid, provenance-free for pasted input)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_window_size(1600, 1400)
    driver.get(dashboard_url.rstrip("/") + "/inspect")
    _wait(driver, lambda d: _decoded(d) == 6, 180, "drawings of the example molecules on the Inspect page")
    _open_expander(driver, "Filters, substructure and similarity")
    field = _wait(driver, lambda d: _text_input(d, "Must contain (SMARTS or SMILES)"), 30, "the substructure field")
    field.send_keys("C(=O)N", Keys.ENTER)  # an amide: paracetamol only
    _wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".molgen-card")) == 1, 60,
          "the grid to narrow to the one amide")
    card = driver.find_element(By.CSS_SELECTOR, ".molgen-card")
    assert "paracetamol" in card.text and "#4" in card.text
    src = card.find_element(By.CSS_SELECTOR, "img").get_attribute("src")
    assert "<ellipse" in base64.b64decode(src.split(",", 1)[1]).decode(), "the amide should be highlighted"
    button = _wait(driver, lambda d: _button(d, "Download CSV"), 30, "the CSV download button")
    button.click()
    target = downloads / "inspect.csv"
    _wait(driver, lambda d: target.is_file() and target.stat().st_size > 0, 60, "the CSV download")
    lines = target.read_text().splitlines()
    assert lines[0].startswith("id,name,smiles,valid,") and "flags" in lines[0] and len(lines) == 2
    assert lines[1].startswith("4,paracetamol,CC(=O)Nc1ccc(O)cc1,True,")
    _full_page_screenshot(driver, ARTIFACTS / "dashboard-substructure.png")


def test_training_set_overlay_on_the_first_tick(driver, fresh_dashboard_url):
    """Issue 18 #3: ticking "overlay the training set" once draws the training set's bars in every
    histogram. On first use (cold caches) computing the training set takes a while: meanwhile the
    histograms of the set alone must not stay on screen as if the tick had done nothing (they did,
    beside a small spinner, so the report's user unticked and ticked again); a progress bar takes
    their place."""
    from selenium.webdriver.common.by import By

    driver.get(fresh_dashboard_url.rstrip("/") + "/inspect")
    _wait(driver, lambda d: _decoded(d) == 6, 180, "drawings of the example molecules on the Inspect page")
    _open_expander(driver, "Property distributions against the training set")
    box = _wait(driver, lambda d: next((lab for lab in d.find_elements(By.TAG_NAME, "label")
                                        if "Overlay the MOSES training set" in lab.text), None), 30, "the overlay box")
    _wait(driver, lambda d: d.execute_script(OVERLAY_STATE)["charts"] == 8, 60, "the histograms of the set alone")
    box.click()
    states = []

    def done(d) -> bool:
        state = d.execute_script(OVERLAY_STATE)
        states.append(state)
        return len(state["bars"]) == 8 and all(n > 0 for n in state["bars"])

    _wait(driver, done, 300, "the training set's bars in all eight histograms")
    waiting = [s for s in states if s["waiting"]]
    assert waiting, "the training set was computed without any sign of it (cold caches should take seconds)"
    assert not [s for s in waiting if s["charts"]], (
        f"histograms without the training set were on screen while it was computed: {waiting[:3]}")
    legends = driver.execute_script(LEGENDS)
    assert len(legends) == 8 and all(sorted(g["labels"]) == ["this set", "training set"] for g in legends), legends
    assert all(g["inside"] for g in legends), f"a legend is cut off by its chart's frame: {legends}"
    _full_page_screenshot(driver, ARTIFACTS / "dashboard-overlay.png")


#: Each histogram's legend labels as drawn, and whether the legend lies inside the visible chart frame.
LEGENDS = """
return Array.from(document.querySelectorAll('.vega-embed')).map(e => {
    const legend = e.querySelector('.role-legend');
    if (!legend) return {labels: [], inside: false};
    const labels = Array.from(legend.querySelectorAll('.role-legend-label text')).map(t => t.textContent);
    const box = legend.getBoundingClientRect();
    let frame = e.getBoundingClientRect();
    for (let p = e.parentElement; p; p = p.parentElement) {  // the nearest ancestor that clips
        const style = getComputedStyle(p);
        if (style.overflow !== 'visible' || style.overflowY !== 'visible') { frame = p.getBoundingClientRect(); break; }
    }
    const inside = box.left >= frame.left - 1 && box.right <= frame.right + 1 && box.top >= frame.top - 1
        && box.bottom <= frame.bottom + 1;
    return {labels: labels, inside: inside};
});
"""


#: The overlay expander's state: whether it says the training set is being computed (a progress bar
#: or spinner naming it), how many histograms it shows, and each one's training-set bars.
OVERLAY_STATE = """
const box = Array.from(document.querySelectorAll('details')).find(
    e => e.textContent.includes('Overlay the MOSES training set'));
if (!box) return {waiting: false, charts: 0, bars: []};
const busy = Array.from(box.querySelectorAll('[data-testid="stProgress"], [data-testid="stSpinner"]'))
    .some(e => /training.set/i.test(e.textContent));
const charts = Array.from(box.querySelectorAll('.vega-embed'));
return {waiting: busy, charts: charts.length,
        bars: charts.map(e => e.querySelectorAll('.mark-rect path[fill="#4c78a8"]').length)};
"""


def _first_card_id(drv) -> str:
    """The ``#n`` of the grid's first card (read even while the grid's tab is hidden)."""
    from selenium.webdriver.common.by import By

    cards = drv.find_elements(By.CSS_SELECTOR, ".molgen-card b")
    return cards[0].get_attribute("textContent") if cards else ""


def _sort_choice(drv) -> str:
    from selenium.webdriver.common.by import By

    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:  # "" while a rerun redraws the control
        return drv.find_element(By.CSS_SELECTOR, "input[aria-label='Sort by']").get_attribute("value")
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


#: The molecule each sort puts first on the example set, best first: highest QED, lowest SA, and
#: lowest MW / logP / TPSA (no better direction: ascending).
FIRST_BY = {"QED": "#6", "SA score (1 easy – 10 hard)": "#4", "Molecular weight (Da)": "#4",
            "cLogP (Crippen)": "#2", "TPSA (Å²)": "#6"}


def test_table_header_click_sorts_the_grid(driver, dashboard_url):
    """Issue 18 #2: clicking a table header sorts through the "Sort by" control, best first, so the
    grid (and the downloads) follow it."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.set_window_size(1600, 1400)
    driver.get(dashboard_url.rstrip("/") + "/inspect")
    _wait(driver, lambda d: _decoded(d) == 6, 180, "drawings of the example molecules on the Inspect page")
    _wait(driver, lambda d: _sort_choice(d) == "(original order)", 30, "the Sort by control")
    assert _first_card_id(driver) == "#1"
    tab = next(t for t in driver.find_elements(By.CSS_SELECTOR, "[role='tab']") if t.text.strip() == "Table")
    tab.click()
    canvas = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrameResizable'] canvas"),
                   60, "the table")[0]
    # The table draws its header on a canvas: click along it, left to right, until a column sorts.
    for x in range(540, 900, 20):
        ActionChains(driver).move_to_element_with_offset(
            canvas, x - canvas.rect["width"] / 2, 18 - canvas.rect["height"] / 2).click().perform()
        deadline = time.monotonic() + 8  # the rerun may take a while on a loaded machine
        while time.monotonic() < deadline and _sort_choice(driver) in ("(original order)", ""):
            time.sleep(0.5)
        if _sort_choice(driver) not in ("(original order)", ""):
            break
        canvas = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrameResizable'] canvas")[0]
    column = _sort_choice(driver)
    assert column in FIRST_BY, f"a header click should choose a property to sort by, got {column!r}"
    _wait(driver, lambda d: _first_card_id(d) == FIRST_BY[column], 30,
          f"the grid to put {FIRST_BY[column]} first when sorted by {column}")


def _card_button(drv, number: int, label: str):
    """The button labelled ``label`` on card ``#number`` once drawn (None while the page is still drawing it)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        for b in drv.find_elements(By.CSS_SELECTOR, f".st-key-inspect_card_{number} button"):
            if label in b.text and b.is_displayed():
                return b
    except StaleElementReferenceException:
        return None
    return None


def test_card_details_and_selection_in_chromium(driver, dashboard_url, tmp_path):
    """Issue 18, clickable cards: a card's Details opens the molecule's detail over the grid, and the
    cards' Select boxes make the selection that "Download selection CSV" exports, in grid order."""
    from selenium.webdriver.common.by import By

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_window_size(1600, 1400)
    driver.get(dashboard_url.rstrip("/") + "/inspect")
    _wait(driver, lambda d: _decoded(d) == 6, 180, "drawings of the example molecules on the Inspect page")
    details = _wait(driver, lambda d: _card_button(d, 4, "Details"), 60, "the Details button of card #4")
    assert "paracetamol" in driver.find_element(By.CSS_SELECTOR, ".st-key-inspect_card_4").text
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", details)
    details.click()
    dialog = _wait(driver, lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, "[role='dialog']")
                                           if "CC(=O)Nc1ccc(O)cc1" in e.text), None), 60, "the detail dialog")
    assert "#4 paracetamol" in dialog.text and "Brenk: hydroquinone" in dialog.text
    assert dialog.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrameResizable']"), "the property sheet"
    _wait(driver, lambda d: d.execute_script(
        "const i = document.querySelector(\"[role='dialog'] img.molgen-detail\");"
        "return !!i && i.complete && i.naturalWidth > 0;"), 30, "the large drawing in the dialog")
    _full_page_screenshot(driver, ARTIFACTS / "dashboard-card-detail.png")
    close = [b for b in dialog.find_elements(By.TAG_NAME, "button") if b.get_attribute("aria-label") == "Close"]
    assert close, "the dialog should have a close button"
    close[0].click()
    _wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, "[role='dialog']"), 30, "the dialog to close")

    driver.set_window_size(1600, 1400)
    boxes = {number: _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f".st-key-inspect_pick_{number} label"),
                           30, f"the Select box of card #{number}")[0] for number in (5, 2, 6)}
    for number, box in boxes.items():  # three quick clicks, as a chemist ticks a row of cards
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
        box.click()
        time.sleep(0.3)
    _wait(driver, lambda d: "3 selected" in d.find_element(By.TAG_NAME, "body").text, 60,
          "the three ticked cards in the selection")
    button = _wait(driver, lambda d: _button(d, "Download selection CSV"), 60, "the selection's CSV download")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    target = downloads / "inspect-selection.csv"
    _wait(driver, lambda d: target.is_file() and target.stat().st_size > 0, 60, "the selection's CSV")
    lines = target.read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["2", "5", "6"], lines  # grid order, not click order
