"""The real web app in a real browser: `python -m peerqa.app.cli serve` on the shipped review, driven by
headless chromium through Playwright.

Screenshots and the measured timings go to test-artifacts/e2e-app/ (gitignored). Every wait is
bounded; the server's process group is killed whatever happens.
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
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from peerqa.app.feedback import FeedbackStore
from tests.conftest import REPO
from tests.pdfgen import make_pdf

pytestmark = pytest.mark.e2e
ARTIFACTS = REPO / "test-artifacts" / "e2e-app"
# Generous bounds: the machine has two cores shared with other work.
SERVER_START_S = 180
FIRST_PAGE_MS = 240_000  # the first visit loads the model and the index
ANSWER_MS = 180_000
REBUILD_MS = 600_000
CHAT_INPUT = '[data-testid="stChatInputTextArea"]'
MESSAGE = '[data-testid="stChatMessage"]'
EXPANDER = '[data-testid="stExpander"]'


@dataclass
class Server:
    url: str
    root: Path
    sources_dir: Path
    index_dir: Path
    started: float
    timings: dict[str, float] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=5) as resp:  # noqa: S310 - localhost
                if resp.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the server was not healthy within {SERVER_START_S} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def server(review_index, tmp_path_factory) -> Iterator[Server]:
    settings, _ = review_index
    # A private copy of the session's index and sources: these tests upload and rebuild, which must
    # not change what other test modules see. The copied caches keep the rebuild incremental.
    root = tmp_path_factory.mktemp("e2e-app")
    index_dir, sources_dir = root / "data" / "index", root / "sources"
    shutil.copytree(settings.index_dir, index_dir)
    shutil.copytree(settings.sources_dir, sources_dir)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = root / "server.log"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PEERQA_SOURCES_DIR=str(sources_dir))
    env.pop("PEERQA_FEEDBACK_PATH", None)
    started = time.monotonic()
    with log.open("wb") as out:
        # Its own session, so that the whole group (peerqa serve and its streamlit child) can be killed.
        proc = subprocess.Popen(
            [sys.executable, "-m", "peerqa.app.cli", "serve", "--port", str(port), "--index-dir", str(index_dir)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_healthy(url, proc, log)
        srv = Server(url, root, sources_dir, index_dir, started)
        srv.timings["server_healthy_s"] = round(time.monotonic() - started, 1)
        yield srv
        (ARTIFACTS / "timings.json").write_text(json.dumps(srv.timings, indent=1) + "\n", encoding="utf-8")
    finally:
        _stop(proc)
        shutil.copy(log, ARTIFACTS / "server.log")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1100}, accept_downloads=True)
    ctx.set_default_timeout(60_000)
    try:
        yield ctx
    finally:
        ctx.close()


def _shot(page, name: str) -> None:
    page.wait_for_timeout(500)  # let the last delta paint
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _download(page, button, tries: int = 3) -> object:
    """Click a download button until the file comes: on a loaded machine a click that lands while
    the app is still re-running the page is dropped (a user would click again), so up to `tries`
    clicks, 30 s each; the file must come in the end."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(tries):
        try:
            with page.expect_download(timeout=30_000) as download:
                button.click()
            return download.value
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def _ask(page, question: str, messages_before: int) -> object:
    """Type a question, wait for its answer to be complete (its feedback or a final element), and
    return the assistant message."""
    page.fill(CHAT_INPUT, question)
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"document.querySelectorAll('{MESSAGE}').length >= {messages_before + 2}", timeout=ANSWER_MS
    )
    answer = page.locator(MESSAGE).nth(messages_before + 1)
    # The answer is complete once its feedback control has been drawn (it comes last).
    answer.locator('[aria-label="Thumbs up"]').wait_for(timeout=ANSWER_MS)
    return answer


def test_staff_ask_open_a_citation_follow_up_rate_and_export(server, context):
    page = context.new_page()
    t0 = time.monotonic()
    page.goto(server.url, timeout=60_000)
    page.wait_for_selector(CHAT_INPUT, timeout=FIRST_PAGE_MS)
    server.timings["first_page_usable_s"] = round(time.monotonic() - t0, 1)
    server.timings["server_start_to_usable_s"] = round(time.monotonic() - server.started, 1)
    page.get_by_text("1 source(s) · ", exact=False).first.wait_for()
    _shot(page, "01-welcome")

    t1 = time.monotonic()
    answer = _ask(page, "What training do peer support workers need?", 0)
    server.timings["first_answer_s"] = round(time.monotonic() - t1, 1)
    assert "[1]" in answer.inner_text()
    citations = answer.locator(EXPANDER)
    assert citations.count() >= 1
    assert re.search(r"\[1\] .+ · pp?\. \d+", citations.first.locator("summary").inner_text())
    _shot(page, "02-answer")

    # Opening a citation shows the passage, the highlighted sentence, its page and the PDF.
    citations.first.locator("summary").click()
    details = citations.first.locator('[data-testid="stExpanderDetails"]')
    details.wait_for()
    text = details.inner_text()
    assert re.search(r"\bp\. \d+", text) and "open it at page" in text
    highlighted = details.locator(".stMarkdownColoredBackground strong").first.inner_text()
    assert len(highlighted) > 20 and " ".join(highlighted.split())[:40] in " ".join(answer.inner_text().split())
    download = _download(page, details.get_by_role("button", name="Download the report (PDF)"))
    assert download.suggested_filename == "peer-support-work-scoping-review-2023.pdf"
    assert Path(download.path()).read_bytes()[:5] == b"%PDF-"
    _shot(page, "03-citation-open")

    # Feedback lands in the SQLite file beside the index, and exports as a candidate question.
    answer.locator('[aria-label="Thumbs up"]').click()
    answer.get_by_text("Thank you, your feedback is saved.").wait_for()
    entries = FeedbackStore(server.index_dir.parent / "feedback.sqlite").entries()
    assert [(e.question, e.vote) for e in entries] == [("What training do peer support workers need?", "up")]
    exported = subprocess.run(
        [sys.executable, "-m", "peerqa.app.cli", "feedback-export", "--index-dir", str(server.index_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )
    row = json.loads(exported.stdout.splitlines()[0])
    assert (row["feedback"], row["type"], row["evidence"]) == ("up", "fact", [])

    # A follow-up is read with the conversation; it is answered with its own citations.
    followup = _ask(page, "And what about supervision?", 2)
    assert "[1]" in followup.inner_text() and followup.locator(EXPANDER).count() >= 1
    _shot(page, "04-follow-up")

    # The conversation exports as Markdown with its citations.
    md = Path(_download(page, page.get_by_role("button", name="Download as Markdown")).path()).read_text(encoding="utf-8")
    md = re.sub(r"\\(.)", r"\1", md).replace("\u2060", "")  # the export escapes source text as the app does
    assert "## 1. What training do peer support workers need?" in md and "## 2. And what about supervision?" in md
    assert re.search(r"\[1\] .+\(peer-support-work-scoping-review-2023\.pdf, pp?\. \d+\)", md)

    # Something the review does not cover: an abstention with sections to re-ask in.
    off_topic = _ask(page, "What is the capital of Mongolia?", 4)
    assert "does not appear to cover" in off_topic.inner_text()
    suggestions = off_topic.get_by_role("button").filter(has_text="›")
    assert suggestions.count() >= 1
    _shot(page, "05-abstention")
    suggestions.first.click()
    page.wait_for_function(f"document.querySelectorAll('{MESSAGE}').length >= 8", timeout=ANSWER_MS)
    page.locator(MESSAGE).nth(7).get_by_text("Searched only in the section").wait_for(timeout=ANSWER_MS)

    page.get_by_role("button", name="New conversation").click()
    page.wait_for_function(f"document.querySelectorAll('{MESSAGE}').length === 0", timeout=60_000)
    page.get_by_role("button", name="What training do peer support workers need?").wait_for()  # the welcome again


STUDY_LINES = [
    "CONNEMARA EQUINE PEER SUPPORT STUDY",
    "Peer support workers ran weekly equine care sessions on a farm in Connemara.",
    "Participants who groomed and fed the horses with a peer worker reported less isolation.",
    "The Connemara equine programme was valued for its calm outdoor setting and shared routine.",
    "Peer workers said the horses gave people a reason to return each week.",
    "RESULTS",
    "After twelve weeks of equine sessions, attendance at the Connemara farm stayed above eighty per cent.",
    "Participants described the equine peer workers as trusted and approachable.",
]
# Appendix pages of plain rota notes: they give the rebuild enough to read and embed that it is
# still running when a question asked at its start has been answered, on a fast machine too.
APPENDIX = [
    [f"Rota note {page}.{line}: the steering group met on day {line} of month {page} and agreed cover "
     f"for shift {page * 40 + line}." for line in range(40)]
    for page in range(6)
]


def test_sources_upload_and_rebuild_while_questions_are_answered(server, context, tmp_path):
    sources = context.new_page()
    sources.goto(server.url + "sources", timeout=60_000)
    sources.wait_for_selector('[data-testid="stTable"]', timeout=FIRST_PAGE_MS)
    table = sources.locator('[data-testid="stTable"]')
    assert "peer-support-work-scoping-review-2023.pdf" in table.inner_text() and "indexed" in table.inner_text()

    study = make_pdf(tmp_path / "Connemara Equine Study.pdf", [STUDY_LINES, *APPENDIX], title="Connemara equine peer support")
    fake = tmp_path / "not-really.pdf"
    fake.write_bytes(b"<html>this is not a PDF</html>")
    sources.locator('input[type="file"]').set_input_files([str(study), str(fake)])
    sources.get_by_text("not-really.pdf").first.wait_for()  # both uploads are listed before submitting
    sources.get_by_role("button", name="Add to sources").click()
    sources.get_by_text("saved as Connemara_Equine_Study.pdf").wait_for()
    sources.get_by_text("the file is not a PDF").first.wait_for()
    assert sorted(p.name for p in server.sources_dir.iterdir()) == [
        "Connemara_Equine_Study.pdf", "peer-support-work-scoping-review-2023.pdf",
    ]
    table.get_by_text("Connemara_Equine_Study.pdf").wait_for()
    _shot(sources, "06-sources-uploaded")

    # A colleague has the chat open; the rebuild starts (re-reading every file, so that it lasts
    # well beyond one answer) and they ask a question at once.
    ask = context.new_page()
    ask.goto(server.url, timeout=60_000)
    ask.wait_for_selector(CHAT_INPUT, timeout=FIRST_PAGE_MS)
    sources.get_by_text("Re-read every file").click()
    sources.get_by_role("button", name="Rebuild the index").click()
    sources.locator('[data-testid="stProgress"]').wait_for(timeout=60_000)
    sources.screenshot(path=str(ARTIFACTS / "07-rebuild-progress.png"))  # no settling pause: it is racing
    t0 = time.monotonic()
    answer = _ask(ask, "How is peer support used in forensic mental health services?", 0)
    server.timings["answer_during_rebuild_s"] = round(time.monotonic() - t0, 1)
    assert "[1]" in answer.inner_text()
    # Answered from the old index while the rebuild was still running (the banner says so).
    assert ask.get_by_text("The index is being rebuilt").first.is_visible()
    assert ask.get_by_text("1 source(s) · ", exact=False).first.is_visible()
    _shot(ask, "08-answer-during-rebuild")

    t1 = time.monotonic()
    sources.get_by_text(re.compile(r"Index \S+ is ready: \d+ passages")).wait_for(timeout=REBUILD_MS)
    server.timings["rebuild_s"] = round(time.monotonic() - t1, 1)
    # The page reruns top to bottom: the table (filled last) may still show the old rows for a moment.
    deadline = time.monotonic() + 60
    while not re.search(r"Connemara_Equine_Study\.pdf\s+indexed", table.inner_text()):
        assert time.monotonic() < deadline, table.inner_text()
        sources.wait_for_timeout(500)
    _shot(sources, "09-rebuild-done")

    # The open chat page switches to the new index by itself, and its answers can cite the new study.
    ask.get_by_text("2 source(s) · ", exact=False).wait_for(timeout=60_000)
    new = _ask(ask, "What did the Connemara equine peer support study find?", 2)
    assert "equine" in new.inner_text().lower()
    for i in range(new.locator(EXPANDER).count()):
        new.locator(EXPANDER).nth(i).locator("summary").click()
    new.get_by_text("Connemara_Equine_Study.pdf", exact=False).first.wait_for()
    _shot(ask, "10-answer-from-new-index")

    # The uploaded PDF's cited page opens inline too, with the quoted sentence highlighted.
    for i in range(new.locator(EXPANDER).count()):
        new.locator(EXPANDER).nth(i).locator("summary").click()  # close them again
    study = new.locator(EXPANDER).filter(has_text="Connemara").first
    n = int(re.search(r"\[(\d+)\]", study.locator("summary").inner_text()).group(1))
    assert _open_page_of(ask, new, n, "15-cited-page-uploaded") > 500


HIGHLIGHT = (255, 231, 145)  # app/page_view.py's HIGHLIGHT_RGBA drawn over white paper


def _in_view(page, locator) -> bool:
    box = locator.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and 0 <= box["y"] < height - 40


def _highlight_pixels(png: bytes) -> int:
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(n for n, rgb in image.getcolors(maxcolors=1 << 22) or []
               if all(abs(a - b) <= 14 for a, b in zip(rgb, HIGHLIGHT, strict=True)))


def _open_page_of(page, answer, n: int, shot: str) -> int:
    """Click [n] in the answer, then the citation's page button; return highlight pixels seen."""
    answer.locator(f'a[href="#peerqa-cite-{n}"]').first.click()
    citation = answer.locator(EXPANDER).filter(has_text=f"[{n}]").first
    details = citation.locator('[data-testid="stExpanderDetails"]')
    details.wait_for()  # [n] opened citation n ...
    page.wait_for_timeout(800)
    assert _in_view(page, citation.locator("summary")), citation.locator("summary").bounding_box()  # ... and scrolled to it
    details.get_by_role("button", name=re.compile(r"^Show page \d+")).click()
    dialog = page.locator('[role="dialog"]')
    excerpt = dialog.get_by_role("img", name=re.compile("^The quoted lines on page"))
    excerpt.wait_for(timeout=60_000)
    page.wait_for_function("[...document.querySelectorAll('[role=dialog] img')].every(i => i.complete)")
    page.wait_for_timeout(500)
    assert "The quoted sentences are highlighted" in dialog.inner_text()
    assert dialog.get_by_role("img", name=re.compile(r"^Page \d+ of ")).count() == 1  # and the whole page
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"))
    pixels = _highlight_pixels(excerpt.screenshot())
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached", timeout=30_000)
    return pixels


def test_a_citation_opens_its_page_inline_and_the_answer_and_filters_stay_in_view(server, browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(60_000)
    page = ctx.new_page()
    try:
        page.goto(server.url, timeout=60_000)
        page.wait_for_selector(CHAT_INPUT, timeout=FIRST_PAGE_MS)
        answer = _ask(page, "What training do peer support workers need?", 0)
        page.wait_for_timeout(2000)  # the page settles; the answer must still show its first line
        first_line = answer.locator("li").first
        assert _in_view(page, first_line), first_line.bounding_box()
        _shot(page, "11-answer-first-line-in-view")
        # The chat box keeps focus after sending; its border must not turn error-red.
        borders = page.evaluate(
            "[...document.querySelectorAll('[data-testid=\"stChatInput\"] div')].map(d => getComputedStyle(d))"
            ".filter(cs => cs.borderTopWidth !== '0px').map(cs => cs.borderTopColor)")
        channels = [[float(v) for v in re.findall(r"[\d.]+", b)[:3]] for b in borders]
        assert channels and all(r - g < 40 for r, g, _b in channels), borders

        t0 = time.monotonic()
        assert _open_page_of(page, answer, 1, "12-cited-page-review") > 2000
        server.timings["open_cited_page_s"] = round(time.monotonic() - t0, 1)

        # After reading a citation, the next answer comes into view by itself.
        second = _ask(page, "What challenges do peer support workers face in their role?", 2)
        page.wait_for_timeout(2000)
        assert _in_view(page, second.locator("li").first)

        # A suggestion re-asks within its section and the sidebar says so; a second abstention
        # there does not offer the same section again.
        off = _ask(page, "What is the capital of Mongolia?", 4)
        suggestion = off.get_by_role("button").filter(has_text="›").first
        section = suggestion.inner_text().split("\n")[-1].strip()  # after the icon's own text
        suggestion.click()
        page.wait_for_function(f"document.querySelectorAll('{MESSAGE}').length >= 8", timeout=ANSWER_MS)
        reasked = page.locator(MESSAGE).nth(7)
        reasked.get_by_text("Searched only in the section").wait_for(timeout=ANSWER_MS)
        reasked.locator('[aria-label="Thumbs up"]').or_(reasked.get_by_role("button")).first.wait_for()
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text(f"Searching in {section}").wait_for()
        own = section.split(" › ")[-1]
        picker = sidebar.locator('[data-testid="stSelectbox"] input').first
        assert picker.input_value().startswith(own)
        offered = [b.inner_text().split("\n")[-1].strip() for b in reasked.get_by_role("button").filter(has_text="›").all()]
        assert section not in offered
        _shot(page, "13-suggestion-sidebar-agrees")

        # The section picker: typing a name lists sections of that name first, with whole paths.
        picker.click()
        page.keyboard.press("Control+a")
        page.keyboard.type("Training")
        options = page.locator('[role="option"]')
        options.first.wait_for()
        labels = [o.inner_text() for o in options.all()]
        assert labels and labels[0].startswith("Training")
        assert all("Training" in label or "training" in label for label in labels)
        # Whole paths: no label is cut off ("Findings › Development and Imp…").
        assert all(o.evaluate("e => e.firstElementChild.scrollWidth <= e.firstElementChild.clientWidth + 1")
                   for o in options.all())
        _shot(page, "14-section-picker")
        page.keyboard.press("Escape")
    finally:
        ctx.close()


def test_a_filter_that_hides_the_evidence_says_so_and_searches_everywhere(server, context):
    page = context.new_page()
    page.goto(server.url, timeout=60_000)
    page.wait_for_selector(CHAT_INPUT, timeout=FIRST_PAGE_MS)
    # Choose the Training section in the sidebar's picker, then ask about something it does not cover.
    picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    picker.click()
    page.keyboard.type("Training")
    page.get_by_role("option", name=re.compile(r"^Training — in Findings › Development and Implementation$")).first.click()
    answer = _ask(page, "What is peer respite?", 0)
    text = answer.inner_text()
    assert "Training does not appear to cover this" in text and "Peer Respite" in text
    _shot(page, "20-filter-notice")
    page.get_by_role("button", name="Search all sections").click()
    page.wait_for_function(f"document.querySelectorAll('{MESSAGE}').length >= 4", timeout=ANSWER_MS)
    second = page.locator(MESSAGE).nth(3)
    second.locator('[aria-label="Thumbs up"]').wait_for(timeout=ANSWER_MS)
    assert "[1]" in second.inner_text() and "respite" in second.inner_text().lower()
    _shot(page, "21-searched-everywhere")
