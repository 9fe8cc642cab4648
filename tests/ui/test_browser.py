"""The web UI in a real headless chromium, against a real server and a real local sandbox.

One server, sandbox and browser serve the whole module (a sandbox takes seconds to
start); the tests run in file order and the last one terminates the sandbox from
the page. Screenshots of the list and of a notebook land in test-artifacts/.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import nbformat
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from seer_mcp.settings import Settings
from tests.conftest import fields_of
from tests.ui.harness import ARTIFACTS, McpThread, ServerThread, chromium_paths, wait_for

pytestmark = pytest.mark.slow

PLOT = """import matplotlib.pyplot as plt
import numpy as np
layers = np.arange(12)
plt.figure(figsize=(6, 3))
plt.plot(layers, np.tanh(layers / 4), marker="o", label="probe accuracy")
plt.xlabel("layer"); plt.legend(); plt.title("Linear probe by layer")
plt.show()"""


class UiSetup:
    def __init__(self, server: ServerThread, mcp: McpThread, driver: webdriver.Chrome, sandbox_id: str,
                 session_id: str) -> None:
        self.server, self.mcp, self.driver = server, mcp, driver
        self.sandbox_id, self.session_id = sandbox_id, session_id

    @property
    def login_url(self) -> str:
        return f"{self.server.base}/ui/login?token={self.server.token}"

    def open_session(self) -> None:
        self.driver.get(f"{self.server.base}/ui/#/session/{self.session_id}")
        wait_for(lambda: self.driver.find_element(By.ID, "session-info").text, 10, what="the session page")


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiSetup]:
    browser, chromedriver = chromium_paths()
    tmp = tmp_path_factory.mktemp("ui")
    settings = Settings(state_dir=tmp / "state", outputs_dir=tmp / "outputs", cell_timeout=120, _env_file=None)
    server = ServerThread(settings, "ui-test-token-" + os.urandom(8).hex()).start()
    mcp = driver = None
    try:
        mcp = McpThread(f"{server.base}/mcp", server.token)
        created = mcp.call("create_sandbox", {"name": "probing"})
        sandbox_id = created.structured_content["sandbox_id"]
        session_id = mcp.call("start_session", {"sandbox_id": sandbox_id, "name": "probes"}).structured_content[
            "session_id"]
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--hide-scrollbars"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(chromedriver), options=options)
        ARTIFACTS.mkdir(exist_ok=True)
        yield UiSetup(server, mcp, driver, sandbox_id, session_id)
    finally:
        if driver is not None:
            driver.quit()
        if mcp is not None:
            mcp.close()
        server.stop()


def _click(driver: webdriver.Chrome, selector: str) -> None:
    """Clicks an element, retrying while the live page swaps it for a fresh one (a stale element never got the
    click)."""

    def click() -> bool:
        driver.find_element(By.CSS_SELECTOR, selector).click()
        return True

    wait_for(click, 10, what=f"a clickable {selector}")


def _screenshot(driver: webdriver.Chrome, name: str) -> Path:
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def test_the_page_is_refused_without_the_token_and_lists_sandboxes_with_it(ui: UiSetup) -> None:
    driver = ui.driver
    refused = httpx.get(f"{ui.server.base}/ui/")
    assert refused.status_code == 401 and "log in with the link" in refused.text.lower().replace("\n", " ")
    assert httpx.get(f"{ui.server.base}/ui/api/sandboxes").status_code == 401
    assert httpx.get(f"{ui.server.base}/ui/login?token=wrong").status_code == 401
    driver.get(f"{ui.server.base}/ui/")
    assert "not logged in" in driver.find_element(By.TAG_NAME, "body").text.lower()

    driver.get(ui.login_url)
    row = f'tr[data-sandbox="{ui.sandbox_id}"] td'
    # Read in one go: the list re-renders when its live feed connects.
    cells = wait_for(lambda: [td.text for td in driver.find_elements(By.CSS_SELECTOR, row)], 10,
                     what="the sandbox's row")
    assert ui.server.token not in driver.current_url  # the login redirect took the token out of the address bar
    assert driver.current_url.startswith(f"{ui.server.base}/ui/")
    assert "probing" in cells[0] and cells[1] == "local" and cells[3] == "running"
    assert ui.session_id in cells[6]
    wait_for(lambda: "live" == driver.find_element(By.ID, "live").text, 5, what="the event stream")
    _screenshot(driver, "ui-list.png")


def test_a_cell_run_through_mcp_appears_with_its_image_within_a_second(ui: UiSetup) -> None:
    driver = ui.driver
    ui.mcp.call("add_markdown", {"content": "## Where does the probe work?\nA **linear probe** on each layer's "
                                            "`resid_post`."})
    ui.open_session()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#cells .cell.markdown h3"), 5, what="the markdown cell")
    ui.mcp.call("execute_code", {"code": "accuracy = [0.52, 0.61, 0.78, 0.91]\nprint('best layer:', 3)"})

    bus = ui.server.manager.events
    finished: list[float] = []
    publish = bus.publish

    def spy(event: dict[str, Any]) -> None:  # when the server knew the cell was done
        if event.get("type") == "cell_finished":
            finished.append(time.monotonic())
        publish(event)

    bus.publish = spy
    try:
        result = ui.mcp.call("execute_code", {"code": PLOT})
    finally:
        del bus.publish
    returned = time.monotonic()
    assert not result.is_error, result
    assert result.structured_content is None
    index = fields_of(result)["cell_index"]
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, f'#cells .cell[data-index="{index}"] img'), 1.0,
             interval=0.01, what="the plot cell on the page")
    shown = time.monotonic()
    report = (f"the plot cell was on the open page {(shown - finished[-1]) * 1000:.0f} ms after the server finished "
              f"it, {(shown - returned) * 1000:.0f} ms after execute_code returned")
    print("\n" + report)
    (ARTIFACTS / "ui-latency.txt").write_text(report + "\n")
    img = driver.find_element(By.CSS_SELECTOR, f'#cells .cell[data-index="{index}"] img')
    assert img.get_attribute("src").startswith("data:image/png;base64,")
    assert driver.execute_script("return arguments[0].naturalWidth", img) > 100  # it decoded
    driver.execute_script("window.scrollTo(0, 0)")
    _screenshot(driver, "ui-notebook.png")


def test_interrupt_from_the_page_stops_a_running_cell(ui: UiSetup) -> None:
    driver = ui.driver
    ui.open_session()
    running = ui.mcp.call_later("execute_code", {"code": "import time\nprint('sleeping for a minute')\n"
                                                         "time.sleep(60)"})
    wait_for(lambda: driver.find_element(By.ID, "running-cell"), 10, what="the running cell")
    assert "time.sleep(60)" in driver.find_element(By.ID, "running-cell").text
    # What the cell prints streams in while it runs.
    wait_for(lambda: "sleeping for a minute" in driver.find_element(By.ID, "running-line").text, 5,
             what="the running cell's output")
    driver.set_window_size(1280, 1500)  # the whole notebook: notes, output, plot, and the running cell
    driver.execute_script("window.scrollTo(0, 0)")
    _screenshot(driver, "ui-running.png")
    driver.set_window_size(1280, 900)
    _click(driver, '#running-cell button[data-action="interrupt"]')
    clicked = time.monotonic()
    result = running.result(timeout=20)
    assert time.monotonic() - clicked < 10
    assert result.is_error
    assert fields_of(result)["status"] == "error"
    assert fields_of(result)["error"]["ename"] == "KeyboardInterrupt"
    wait_for(lambda: not driver.find_elements(By.ID, "running-cell"), 5, what="the running cell to go")
    wait_for(lambda: "KeyboardInterrupt" in driver.find_element(By.ID, "cells").text, 5, what="the traceback")


def test_a_cell_printing_html_and_script_shows_them_as_text(ui: UiSetup) -> None:
    driver = ui.driver
    ui.open_session()
    code = ("print('<script>window.PWNED=1</script><b>bold</b>')\n"
            "from IPython.display import HTML, display\n"
            "display(HTML('<img src=x onerror=\"window.PWNED=2\"><i>italic</i>'))")
    result = ui.mcp.call("execute_code", {"code": code})
    index = fields_of(result)["cell_index"]
    cell = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, f'#cells .cell[data-index="{index}"]'), 5,
                    what="the cell")
    outputs = cell.find_element(By.CLASS_NAME, "outputs")
    assert "<script>window.PWNED=1</script><b>bold</b>" in outputs.text
    assert '<img src=x onerror="window.PWNED=2"><i>italic</i>' in outputs.text
    assert outputs.find_elements(By.TAG_NAME, "b") == [] and outputs.find_elements(By.TAG_NAME, "img") == []
    assert driver.execute_script("return typeof window.PWNED") == "undefined"


def test_the_notebook_downloads_as_valid_ipynb(ui: UiSetup) -> None:
    driver = ui.driver
    ui.open_session()
    href = driver.find_element(By.CSS_SELECTOR, 'a[data-action="download"]').get_attribute("href")
    fetched: Any = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.text().then(t => done([r.status, t])));", href)
    status, text = fetched
    assert status == 200
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    assert any("Linear probe by layer" in "".join(c.source) for c in notebook.cells)
    json.loads(text)
    # A notebook session run outside the harness has no agent transcript: the page says so.
    _click(driver, 'a[data-action="transcript"]')
    wait_for(lambda: "no agent transcript" in driver.find_element(By.ID, "toast").text, 5, what="the message")


def test_restart_from_the_page_asks_first_and_gives_a_fresh_kernel(ui: UiSetup) -> None:
    driver = ui.driver
    ui.open_session()
    _click(driver, 'button[data-action="restart"]')
    WebDriverWait(driver, 5).until(expected_conditions.alert_is_present()).dismiss()
    assert not ui.mcp.call("execute_code", {"code": "print(len(accuracy))"}).is_error  # dismissed: nothing lost
    _click(driver, 'button[data-action="restart"]')
    WebDriverWait(driver, 5).until(expected_conditions.alert_is_present()).accept()
    wait_for(lambda: "restarted" in driver.find_element(By.ID, "toast").text, 30, what="the restart")
    gone = ui.mcp.call("execute_code", {"code": "accuracy"})
    assert fields_of(gone)["error"]["ename"] == "NameError"


def test_terminate_from_the_page_ends_the_sandbox(ui: UiSetup) -> None:
    driver = ui.driver
    driver.get(f"{ui.server.base}/ui/#/")
    _click(driver, f'tr[data-sandbox="{ui.sandbox_id}"] button[data-action="terminate"]')
    alert = WebDriverWait(driver, 5).until(expected_conditions.alert_is_present())
    assert ui.sandbox_id in alert.text
    alert.accept()
    wait_for(lambda: not driver.find_elements(By.CSS_SELECTOR, f'tr[data-sandbox="{ui.sandbox_id}"]'), 15,
             what="the row to go")
    listing = ui.mcp.call("list_sandboxes").structured_content["sandboxes"]
    assert ui.sandbox_id not in [s["sandbox_id"] for s in listing]
