"""A hostile user against the real app in a real browser (issue 18): a source full of links,
Markdown, HTML and directives; every request of a session; forced errors; concurrent same-name
uploads; and stop signals to `peerqa serve`.

Figures (live links from source text, requests to other hosts, uploads lost) go to
test-artifacts/e2e-hostile/figures.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from peerqa.app.runtime import run_ingest, streamlit_command
from tests.conftest import REPO
from tests.pdfgen import make_pdf
from tests.test_e2e_app import FIRST_PAGE_MS, MESSAGE, _free_port, _stop, _wait_healthy

pytestmark = pytest.mark.e2e
ARTIFACTS = REPO / "test-artifacts" / "e2e-hostile"
EVIL = "evil.example"
ANSWER_MS = 180_000
# Every way a source could smuggle a link, an image, HTML or a directive into the page.
HOSTILE_LINES = [
    "QUOKKA MENTORING NOTES",
    "Quokka mentoring for peer workers is explained at https://evil.example/bare today.",
    "Quokka mentoring sessions: [register here](https://evil.example/md) and ![logo](https://evil.example/img.png).",
    "Quokka mentoring forms live at <https://evil.example/angle> and www.evil.example/www for peers.",
    "Quokka mentoring staff wrote <script>alert(1)</script> <a href='https://evil.example/html'>click</a>.",
    "Quokka mentoring advice [js](javascript:alert(1)) :red[urgent] :material/warning: $x^2$ mail boss@evil.example.",
    "Quokka mentoring helped peer workers feel less isolated, said https://evil.example/quote in the review.",
]
HOSTILE_TITLE = "Quokka mentoring https://evil.example/title"
QUESTION = "What does the quokka mentoring note say about peer workers?"
FIGURES: dict[str, object] = {}


@pytest.fixture(scope="module")
def hostile(review_index, tmp_path_factory) -> Iterator[dict[str, object]]:
    """The review's index plus one hostile PDF, served by `peerqa serve`."""
    settings, _ = review_index
    root = tmp_path_factory.mktemp("e2e-hostile")
    index_dir, sources_dir = root / "data" / "index", root / "sources"
    shutil.copytree(settings.index_dir, index_dir)
    shutil.copytree(settings.sources_dir, sources_dir)
    make_pdf(sources_dir / "quokka-notes.pdf", [HOSTILE_LINES], title=HOSTILE_TITLE)
    ingest = settings.model_copy(update={"index_dir": index_dir, "sources_dir": sources_dir})
    report = run_ingest(ingest, show_progress=False)
    assert [s.status for s in report.sources if s.path == "quokka-notes.pdf"] == ["ok"], report.sources
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = root / "server.log"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PEERQA_SOURCES_DIR=str(sources_dir))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "peerqa.app.cli", "serve", "--port", str(port), "--index-dir", str(index_dir)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_healthy(url, proc, log)
        yield {"url": url, "port": port, "sources_dir": sources_dir, "index_dir": index_dir, "root": root}
    finally:
        _stop(proc)
        shutil.copy(log, ARTIFACTS / "server.log")
        (ARTIFACTS / "figures.json").write_text(json.dumps(FIGURES, indent=1) + "\n", encoding="utf-8")


def _context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1100}, accept_downloads=True)
    ctx.set_default_timeout(60_000)
    return ctx


def _links(page) -> list[str]:
    return page.eval_on_selector_all("a[href], img[src], [srcset]",
                                     "els => els.map(e => e.href || e.src || e.getAttribute('srcset') || '')")


def _from_source(urls: list[str]) -> list[str]:
    return [u for u in urls if EVIL in u or u.lower().startswith("javascript:")]


def test_source_text_makes_no_live_link_and_no_request_leaves_the_app(hostile, browser):
    ctx = _context(browser)
    requests: list[str] = []
    ctx.on("request", lambda r: requests.append(r.url))
    try:
        page = ctx.new_page()
        page.goto(str(hostile["url"]), timeout=60_000)
        page.wait_for_selector('[data-testid="stChatInputTextArea"]', timeout=FIRST_PAGE_MS)
        page.fill('[data-testid="stChatInputTextArea"]', QUESTION)
        page.keyboard.press("Enter")
        answer = page.locator(MESSAGE).nth(1)
        answer.locator('[aria-label="Thumbs up"]').wait_for(timeout=ANSWER_MS)
        expanders = answer.locator('[data-testid="stExpander"]')
        for i in range(expanders.count()):
            expanders.nth(i).locator("summary").click()
        page.wait_for_timeout(1000)
        shown = answer.inner_text()
        # The hostile text is on the page, as words: the test would see a link if there were one.
        assert "quokka" in shown.lower() and EVIL in shown.replace("\u2060", "")
        live = _from_source(_links(page))
        page.screenshot(path=str(ARTIFACTS / "01-hostile-answer.png"), full_page=True)
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name="Download as Markdown").click()
        md = Path(download.value.path()).read_text(encoding="utf-8")

        sources = ctx.new_page()
        sources.goto(str(hostile["url"]) + "sources", timeout=60_000)
        table = sources.locator('[data-testid="stTable"]')
        table.get_by_text("quokka-notes.pdf").wait_for(timeout=FIRST_PAGE_MS)
        assert EVIL in table.inner_text().replace("\u2060", "")  # the PDF title, shown as text
        live += _from_source(_links(sources))
        sources.screenshot(path=str(ARTIFACTS / "02-hostile-sources.png"), full_page=True)
        # The app's own links (DOIs) are https://doi.org only.
        own = [u for u in _links(page) + _links(sources) if u.startswith("http") and "127.0.0.1" not in u]
        assert all(u.startswith("https://doi.org/") for u in own), own
    finally:
        ctx.close()
    host = f"127.0.0.1:{hostile['port']}"
    foreign = [u for u in requests if urlparse(u).scheme not in ("data", "blob") and urlparse(u).netloc != host]
    FIGURES.update({"live_links_from_source_text": len(live), "requests": len(requests),
                    "requests_to_other_hosts": len(foreign)})
    assert live == []
    assert foreign == [] and len(requests) > 10
    # The export: the hostile markup is escaped text, no link, image or HTML survives.
    assert EVIL in md.replace("\u2060", "").replace("\\", "")
    assert "https://evil" not in md and "](http" not in md and "<script" not in md and "www.evil" not in md


def _bare_server(script: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(streamlit_command(script, port), cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    _wait_healthy(url, proc, log)
    return proc, url


def test_forced_errors_show_no_traceback(hostile, browser, tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PEERQA_INDEX_DIR=str(hostile["index_dir"]))
    # 1. An error outside the app's guard (a script failing at import): Streamlit's own error box,
    # with the flags `peerqa serve` passes.
    crash = tmp_path / "crash_app.py"
    crash.write_text('raise RuntimeError("internal detail /srv/peerqa-secret/path")\n', encoding="utf-8")
    # 2. The app itself with settings that cannot load: its start-up guard.
    bad_env = dict(env, PEERQA_ANSWER__MAX_QUESTION_CHARS="not-a-number")
    cases = [(crash, env, "crash"), (REPO / "app" / "streamlit_app.py", bad_env, "bad-settings")]
    shown: dict[str, str] = {}
    for script, case_env, name in cases:
        proc, url = _bare_server(script, case_env, tmp_path / f"{name}.log")
        ctx = _context(browser)
        try:
            page = ctx.new_page()
            page.goto(url, timeout=60_000)
            page.wait_for_selector('[data-testid="stException"], [data-testid="stAlert"]', timeout=FIRST_PAGE_MS)
            page.wait_for_timeout(1000)
            shown[name] = page.locator("body").inner_text()
            links = [u for u in _links(page) if "127.0.0.1" not in u]
            page.screenshot(path=str(ARTIFACTS / f"03-error-{name}.png"))
        finally:
            ctx.close()
            _stop(proc)
        text = shown[name]
        for leak in ("Traceback", "/srv/peerqa-secret", 'File "', "RuntimeError", "ValidationError", "not-a-number",
                     str(REPO)):
            assert leak not in text, (name, leak, text[:2000])
        assert links == [], (name, links)
    assert "Something went wrong while preparing this page" in shown["bad-settings"]
    FIGURES["forced_errors_with_traceback"] = 0


def _idle(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


def test_two_sessions_uploading_the_same_name_at_once_keep_both_files(hostile, browser, tmp_path):
    sources_dir = Path(str(hostile["sources_dir"]))
    rounds, lost = 5, 0
    contexts = [_context(browser) for _ in range(2)]
    try:
        pages = [ctx.new_page() for ctx in contexts]
        for page in pages:
            page.goto(str(hostile["url"]) + "sources", timeout=60_000)
            page.wait_for_selector('[data-testid="stTable"]', timeout=FIRST_PAGE_MS)
        expected: dict[str, bytes] = {}
        for r in range(rounds):
            files = []
            for s in range(2):
                folder = tmp_path / f"r{r}s{s}"
                folder.mkdir()
                pdf = make_pdf(folder / "report.pdf", [[f"REPORT {r} FROM SESSION {s}",
                                                         f"Round {r}: session {s} uploads its own report."]])
                files.append(pdf)
                expected[f"r{r}s{s}"] = pdf.read_bytes()
            for page, pdf in zip(pages, files, strict=True):
                _idle(page)  # the last submit's rerun has finished (it clears the form)
                page.locator('input[type="file"]').set_input_files(str(pdf))
                # The file has reached the server once its chip shows without the upload spinner.
                page.wait_for_function(
                    "document.querySelector('[data-testid=\"stFileChip\"]') && !document.querySelector("
                    "'[data-testid=\"stFileChipIconSpinner\"], .stFileChipIconSpinner')", timeout=60_000)
            buttons = [page.get_by_role("button", name="Add to sources") for page in pages]
            for b in buttons:  # as close together as one driver can click
                b.click(no_wait_after=True)
            for page in pages:
                _idle(page)
                assert not page.get_by_text("No file was received").count()
                page.get_by_text(re.compile(r"report\.pdf: saved as report(-\d+)?\.pdf")).first.wait_for(timeout=60_000)
            deadline = time.monotonic() + 30
            while len(list(sources_dir.glob("report*.pdf"))) < 2 * (r + 1) and time.monotonic() < deadline:
                time.sleep(0.2)
        on_disk = {p.read_bytes() for p in sources_dir.glob("report*.pdf")}
        lost = sum(body not in on_disk for body in expected.values())
        pages[0].screenshot(path=str(ARTIFACTS / "04-concurrent-uploads.png"))
    finally:
        for ctx in contexts:
            ctx.close()
    FIGURES.update({"uploads": len(expected), "uploads_lost": lost})
    assert lost == 0 and len(list(sources_dir.glob("report*.pdf"))) == 2 * rounds
    assert not [p for p in sources_dir.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_sigterm_to_serve_stops_its_streamlit_child_and_frees_the_port(hostile):
    port = _free_port()
    log = Path(str(hostile["root"])) / "serve-sigterm.log"
    env = dict(os.environ, HF_HUB_OFFLINE="1", PEERQA_SOURCES_DIR=str(hostile["sources_dir"]))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "peerqa.app.cli", "serve", "--port", str(port), "--index-dir", str(hostile["index_dir"])],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/", proc, log)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # the parent only, as `kill PID` or a service manager does
        proc.wait(timeout=30)
        stopped_s = round(time.monotonic() - t0, 1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) != 0:
                    break
            time.sleep(0.2)
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "the Streamlit child still holds the port"
        FIGURES["serve_sigterm_stopped_s"] = stopped_s
    finally:
        try:  # whatever happened, nothing of this server outlives the test
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=20)
