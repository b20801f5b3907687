"""The Sources page: each source with its status and any error, PDF upload, and the rebuild
with a progress bar (questions keep being answered from the current index meanwhile)."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from peerqa.app.ui.protocols import IndexView
from peerqa.app.ui.rebuild import RebuildJob, RebuildStatus
from peerqa.app.ui.safe_text import escape_md
from peerqa.app.ui.uploads import MAX_UPLOAD_BYTES, save_pdf
from peerqa.ingest.discover import discover_sources
from peerqa.records import IngestReport
from peerqa.settings import Settings

NOTHING_RECEIVED = (
    f"No file was received. Choose one or more PDF files first. A file over {MAX_UPLOAD_BYTES // 1024 // 1024} MB, "
    "or one whose transfer failed, is not received: it is marked in the file box above with the reason."
)
STATUS_TEXT = {"ok": "indexed", "failed": "failed", "duplicate": "duplicate", "skipped": "skipped"}


def source_rows(sources_dir: Path, index: IndexView | None, report: IngestReport | None) -> list[dict[str, str]]:
    """One row per file in the sources folder or in the index, the last rebuild's outcome first."""
    files, passed_over = discover_sources([sources_dir], sources_dir) if sources_dir.is_dir() else ([], [])
    on_disk = {p.name for p in files}
    indexed = {doc.path: doc for doc in index.sources.values()} if index else {}
    per_source: dict[str, int] = (index.manifest.get("counts", {}).get("per_source", {}) if index else {}) or {}
    last = {s.path: s for s in report.sources} if report else {}
    last.update({s.path: s for s in passed_over})  # skipped files are re-checked on every visit

    rows = []
    for name in dict.fromkeys([*sorted(on_disk), *sorted(s.path for s in passed_over), *sorted(indexed)]):
        doc = indexed.get(name)
        outcome = last.get(name)
        if outcome is not None and outcome.status != "ok" and (name in on_disk or outcome.status == "skipped"):
            status, detail = STATUS_TEXT.get(outcome.status, outcome.status), outcome.error
        elif doc is not None and name in on_disk:
            status, detail = "indexed", ""
        elif doc is not None:
            status, detail = "removed", "no longer in the sources folder; it leaves the index at the next rebuild"
        else:
            status, detail = "new", "rebuild the index to add it"
        rows.append(
            {
                "File": name,
                "Status": status,
                # Text, not numbers: a column with blanks would otherwise show as floats ("115.0000").
                "Passages": str(per_source.get(name, 0)) if doc is not None else "",
                "Pages": str(doc.pages) if doc is not None and doc.pages else "",
                "Kind": doc.kind.value.replace("_", " ") if doc is not None else "",
                "Title": doc.title if doc is not None else "",
                "Details": detail,
            }
        )
    return rows


def render_sources_page(settings: Settings, job: RebuildJob, index: IndexView | None) -> None:
    st.title("Sources")
    st.caption(
        "The documents answers are drawn from. Add PDF reports, then rebuild the index: unchanged files "
        "are reused, and questions are answered from the current index until the new one is ready."
    )
    table = st.container()  # filled after the upload form, so that a file just added is listed
    _upload_form(settings.sources_dir)
    _rebuild_controls(job)
    rows = source_rows(settings.sources_dir, index, job.status().report)
    with table:
        if rows:
            # A plain table rather than a data grid: error messages wrap and stay readable in full.
            # st.table renders Markdown in cells, and names, titles and errors come from the files.
            st.table([{k: escape_md(v) for k, v in row.items()} for row in rows], hide_index=True)
        else:
            st.info("The sources folder is empty. Add a PDF below, then rebuild the index.")


def _upload_form(sources_dir: Path) -> None:
    st.subheader("Add reports")
    with st.form("upload", clear_on_submit=True, border=True):
        files = st.file_uploader(
            "PDF files", type=["pdf"], accept_multiple_files=True,
            help=f"PDF only, up to {MAX_UPLOAD_BYTES // 1024 // 1024} MB each. Names are tidied to letters, "
                 "digits, dots, dashes and underscores.",
        )
        submitted = st.form_submit_button("Add to sources", icon=":material/upload_file:")
    if not submitted:
        return
    if not files:
        # Also what a refused transfer looks like here: Streamlit rejects a file over the limit (or
        # a transfer that failed) before the app sees it, and marks it in the file box.
        st.warning(NOTHING_RECEIVED)
        return
    saved = 0
    for f in files if isinstance(files, list) else [files]:
        outcome = save_pdf(sources_dir, f.name, f.getvalue())
        if outcome.ok:
            saved += 1
            st.success(escape_md(f"{f.name}: {outcome.message}"), icon=":material/check:")
        else:
            st.error(escape_md(f"{f.name}: {outcome.message}"), icon=":material/block:")
    if saved:
        st.info("Rebuild the index below to make the new report(s) searchable.")


def _rebuild_controls(job: RebuildJob) -> None:
    st.subheader("Rebuild the index")
    status = job.status()
    fresh = st.checkbox("Re-read every file (slower; only needed after a software update)", key="rebuild_fresh")
    if st.button("Rebuild the index", type="primary", icon=":material/refresh:", disabled=status.running):
        if not job.start(rebuild=fresh):
            st.warning("A rebuild is already running.")
    rebuild_progress(job, compact=False)


def rebuild_progress(job: RebuildJob, compact: bool) -> None:
    """The rebuild's progress, refreshed every second while it runs; when it ends, the whole page
    reruns so that the table, the sidebar and the engine switch to the new index."""
    was_running = job.status().running

    @st.fragment(run_every=1.0 if was_running else None)
    def panel() -> None:
        status = job.status()
        if was_running and not status.running:
            st.rerun()
        _show_status(status, compact)

    panel()


def _show_status(status: RebuildStatus, compact: bool) -> None:
    if status.running:
        elapsed = time.time() - (status.started or time.time())
        if compact:
            st.info(
                f"The index is being rebuilt ({status.fraction:.0%}). Answers come from the current index "
                "until the new one is ready.", icon=":material/autorenew:",
            )
        else:
            # The progress text renders Markdown too, and the message names a file.
            st.progress(status.fraction, text=escape_md(f"{status.message} · {status.fraction:.0%} · {elapsed:.0f} s"))
            st.caption("You can keep asking questions meanwhile; they are answered from the current index.")
        return
    if compact or not status.generation:
        return
    if status.error:
        st.error(escape_md(status.error), icon=":material/error:")
    elif status.report is not None:
        r = status.report
        failed = [s for s in r.sources if s.status == "failed"]
        st.success(
            f"Index {r.index_version[:15]} is ready: {r.chunks_total} passages ({r.embedded} newly embedded, "
            f"{r.reused} reused) in {r.seconds:.0f} s. New questions use it.", icon=":material/check_circle:",
        )
        if failed:
            st.warning(f"{len(failed)} file(s) could not be read; see the table above.")
        for w in r.warnings:
            st.caption(escape_md(w))
