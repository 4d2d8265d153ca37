"""End to end in headless Chromium: `preflab serve` started as a command, the voting page opened, a vote clicked,
and the vote seen counted on the page and in the store."""

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from preflab.arena.store import Store

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PAIRS = [{"prompt": "Which planet is known as the red planet?",
          "responses": {"model-x": "Mars. Its surface is rich in iron oxide, which gives it a reddish colour.",
                        "model-y": "Jupiter is the red planet."}}]
SCREENSHOT_COPY = Path("/tmp/preflab_voting.png")


@pytest.fixture
def served_arena(tmp_path):
    """`preflab serve --model none --port 0 --pairs ... --db ... --vote-token ...` in a subprocess; yields its URL."""
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    db = tmp_path / "arena.db"
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "preflab.cli", "serve", "--model", "none", "--port", "0",
                             "--pairs", str(pairs), "--db", str(db), "--vote-token", "letmein", "--log-level",
                             "warning"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    try:
        deadline, url, seen = time.monotonic() + 60, None, []
        while url is None:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"preflab serve did not start; its stderr: {''.join(seen)}") from None
            seen.append(line)
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            url = match.group(1) if match else None
        yield url, db
    finally:
        proc.send_signal(signal.SIGINT)           # uvicorn shuts down gracefully on Ctrl-C
        try:
            assert proc.wait(timeout=20) in (0, -signal.SIGINT)   # uvicorn re-raises the Ctrl-C it handled
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def browser(tmp_path):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.skip(f"headless Chromium test needs {', '.join(missing)} (Debian packages chromium, chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1200,900", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_clicked_vote_is_counted(served_arena, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, db = served_arena
    wait = WebDriverWait(browser, 20)
    browser.get(url + "/arena")
    wait.until(lambda d: d.find_element(By.ID, "response-a").text and d.find_element(By.ID, "vote-A").is_enabled())
    assert browser.find_element(By.ID, "prompt").text == PAIRS[0]["prompt"]
    assert browser.find_element(By.ID, "battle-count").text == "0"
    assert "model-x" not in browser.page_source and "model-y" not in browser.page_source    # double blind
    shown_a = browser.find_element(By.ID, "response-a").text
    [model_shown_a] = [m for m, text in PAIRS[0]["responses"].items() if text == shown_a]

    # a wrong token is refused, on the page and in the store
    browser.find_element(By.ID, "token").send_keys("wrong")
    browser.find_element(By.ID, "vote-A").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "wrong"))
    assert browser.find_element(By.ID, "battle-count").text == "0"

    token = browser.find_element(By.ID, "token")
    token.clear()
    token.send_keys("letmein")
    browser.find_element(By.ID, "vote-A").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "battle-count"), "1"))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#leaderboard tr")) == 2)
    assert browser.find_element(By.ID, "status").text == "Vote counted: A is better."
    other = ({"model-x", "model-y"} - {model_shown_a}).pop()
    assert browser.find_element(By.ID, "reveal").text == f"The pair you voted on: A was {model_shown_a}, B was {other}."
    rows = {r.get_attribute("data-model"): [c.text for c in r.find_elements(By.TAG_NAME, "td")]
            for r in browser.find_elements(By.CSS_SELECTOR, "#leaderboard tr")}
    assert set(rows) == {"model-x", "model-y"}
    assert float(rows[model_shown_a][2]) > 1000 > float(rows[other][2])      # the winner rates above the mean
    assert rows[model_shown_a][5] == rows[other][5] == "1"                    # one battle each
    wait.until(lambda d: d.find_element(By.ID, "vote-A").is_enabled())        # the next pair is up
    shot = tmp_path / "voting.png"
    browser.save_screenshot(str(shot))
    shutil.copyfile(shot, SCREENSHOT_COPY)
    assert shot.stat().st_size > 10_000

    with Store(db) as store:
        [battle] = store.battles()
    assert battle.judge == "human" and battle.prompt == PAIRS[0]["prompt"]
    assert getattr(battle, battle.winner) == model_shown_a                     # "A" mapped back to the model
    assert battle.shown_a_first == (battle.model_a == model_shown_a)
