"""`peerqa ask`: one question (text or --json) or a JSONL file of questions (one JSON per line)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from peerqa.records import Answer

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SOME_LINES_FAILED = 0, 1, 2, 3


def add_commands(sub, add_index_dir) -> None:  # type: ignore[no-untyped-def]
    p = sub.add_parser("ask", help="answer a question from the evidence")
    p.add_argument("question", nargs="?", help="the question (omit with --jsonl)")
    add_index_dir(p)
    p.add_argument("--section", default="", help="only passages under this section path prefix")
    p.add_argument("--source", default="", help="only passages of this source (id prefix or file name)")
    p.add_argument("--kind", default="", choices=["", "review", "included_study", "other"])
    p.add_argument("--k", type=int, default=None, help="passages to retrieve (default 10)")
    p.add_argument("--mode", choices=["extractive", "llm"], default="extractive",
                   help="extractive (default) or llm: a generated answer whose citations are verified "
                        "(needs PEERQA_LLM__PROVIDER; falls back to extractive with a notice)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--jsonl", metavar="FILE", help="answer every question of a JSONL file; JSON lines out")


def answer_json(answer: Answer, qid: str | None = None) -> dict[str, Any]:
    def studies(c) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
        return [
            {"id": r.id, "label": r.short(), "title": r.title, "year": r.year, "doi": r.doi, "url": r.doi_url}
            for r in c.studies
        ]

    out: dict[str, Any] = {}
    if qid is not None:
        out["id"] = qid
    out.update(
        {
            "question": answer.question,
            "answer": answer.answer,
            "abstained": answer.abstained,
            "coverage": answer.coverage,
            "widen": answer.widen,
            "mode": answer.mode,
            "notice": answer.notice,
            "sentences": [s.model_dump() for s in answer.sentences],
            "citations": [
                {
                    "n": c.n,
                    "chunk_id": c.passage.chunk.id,
                    "source": c.passage.chunk.source_path,
                    "section": c.passage.chunk.section,
                    "page": c.passage.chunk.page_start,
                    "pages": c.pages or [p for p in [c.passage.chunk.page_start] if p],
                    "text": c.passage.chunk.text,
                    "quote": c.quote,
                    "studies": studies(c),
                    "designs": c.passage.chunk.designs,
                }
                for c in answer.citations
            ],
            "retrieved": [
                {
                    "chunk_id": p.chunk.id,
                    "source": p.chunk.source_path,
                    "section": p.chunk.section,
                    "page": p.chunk.page_start,
                    "text": p.chunk.text,
                    "score": round(p.score, 6),
                }
                for p in answer.retrieved[:10]
            ],
            "suggestions": answer.suggestions,
            "signals": answer.signals,
            "timings": answer.timings,
            "index_version": answer.index_version,
        }
    )
    return out


def page_label(pages: list[int]) -> str:
    if not pages:
        return "no page"
    return f"p. {pages[0]}" if len(pages) == 1 else f"pp. {pages[0]}-{pages[-1]}"


def answer_lines(answer: Answer) -> list[str]:
    """The answer as a reader sees it: a list's items on lines of their own under their lead-in."""
    if not answer.sentences or not answer.citations:
        return [answer.answer]
    lines: list[str] = []
    for s in answer.sentences:
        marks = "".join(f" [{n}]" for n in s.citations)
        if s.role == "item":
            lines.append(f"    {s.text.lstrip('-•* ')}{marks}")
        else:
            lines.append(f"{s.text}{marks}")
    return lines


def render_text(answer: Answer) -> str:
    notice = answer.notice if answer.notice not in ("signpost", answer.answer) else ""
    lines = [f"Note: {notice}", ""] if notice else []
    lines += [*answer_lines(answer), ""]
    if answer.abstained and answer.suggestions:
        lines.append("Nearest sections:" if not answer.widen else "Search all sections, or try:")
        lines += [f"  - {s}" for s in answer.suggestions]
    for c in answer.citations:
        ch = c.passage.chunk
        page = page_label(c.pages or [p for p in [ch.page_start] if p])
        lines.append(f"[{c.n}] {ch.section} ({ch.source_path}, {page})")
        lines.append(f'    "{c.quote}"')
        for r in c.studies[:6]:
            lines.append(f"    cites: {r.short()}" + (f"  {r.doi_url}" if r.doi else ""))
    return "\n".join(lines).rstrip() + "\n"


def cmd_ask(args: argparse.Namespace) -> int:
    from peerqa.app.answer.engine import Engine, Filters, QuestionError
    from peerqa.app.cli import _settings

    if bool(args.question) == bool(args.jsonl):
        print("peerqa ask: give a question or --jsonl FILE (not both)", file=sys.stderr)
        return EXIT_USAGE
    if args.k is not None and not 1 <= args.k <= 50:
        print("peerqa ask: --k must be between 1 and 50", file=sys.stderr)
        return EXIT_USAGE
    filters = Filters(section=args.section, source=args.source, kind=args.kind)
    if args.question is not None:
        from peerqa.app.answer.query import clean_question
        from peerqa.settings import Settings

        try:  # refuse a bad question before loading anything heavy
            clean_question(args.question, Settings().answer.max_question_chars)
        except QuestionError as exc:
            print(f"peerqa ask: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.jsonl and not Path(args.jsonl).is_file():
        print(f"peerqa ask: no such file {args.jsonl}", file=sys.stderr)
        return EXIT_USAGE
    engine = Engine.from_settings(_settings(args))
    if args.jsonl:
        return _answer_jsonl(engine, Path(args.jsonl), filters, args.k, args.mode)
    answer = engine.ask(args.question, filters=filters, k=args.k, mode=args.mode)
    if args.json:
        print(json.dumps(answer_json(answer), ensure_ascii=False, indent=1))
    else:
        sys.stdout.write(render_text(answer))
    return EXIT_OK


def _jsonl_lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text) of each non-blank line; text None when the line is not UTF-8. Lines are
    decoded one by one, so one bad byte costs that line only."""
    for n, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        raw = raw.removeprefix(b"\xef\xbb\xbf") if n == 1 else raw  # a byte-order mark
        if not raw.strip():
            continue
        try:
            yield n, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield n, None


class _BadLine(ValueError):
    """A line that is not a question object; the message says why."""

    def __init__(self, message: str, qid: Any = None) -> None:
        super().__init__(message)
        self.qid = qid


def _question_item(n: int, line: str | None) -> dict[str, Any]:
    if line is None:
        raise _BadLine(f"line {n} is not UTF-8 text")
    try:
        item = json.loads(line)
    except ValueError as exc:
        raise _BadLine(f"line {n} is not valid JSON ({exc})") from None
    if not isinstance(item, dict):
        raise _BadLine(f"line {n} is not a JSON object with a \"question\"")
    qid = item.get("id", n)
    if not isinstance(item.get("question"), str):
        raise _BadLine(f"line {n} has no \"question\" text", qid)
    context = item.get("context") or []
    if not isinstance(context, list) or not all(isinstance(t, dict) for t in context):
        raise _BadLine(f"line {n}: \"context\" must be a list of {{\"question\", \"answer\"}} objects", qid)
    try:  # "\ud800" is valid JSON but no character: it cannot be read, embedded or printed
        json.dumps(item, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise _BadLine(f"line {n} holds an invalid character (a lone UTF-16 surrogate escape such as \\ud800)",
                       qid) from None
    return item


def _write_row(row: dict[str, Any]) -> None:
    try:
        text = json.dumps(row, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:  # never lose a row to a character stdout cannot take
        text = json.dumps(row)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _answer_jsonl(engine: Any, path: Path, filters: Any, k: int | None, mode: str) -> int:
    """Answer every line that can be answered; a line that cannot becomes {"id", "line", "error"}
    and the exit code is 3."""
    from peerqa.app.answer.engine import QuestionError, Turn

    failed = 0
    try:
        lines = list(_jsonl_lines(path))
    except OSError as exc:
        print(f"peerqa ask: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    for n, line in lines:
        qid: Any = n
        try:
            item = _question_item(n, line)
            qid = item.get("id", n)
            history = [Turn(str(t.get("question", "")), str(t.get("answer", ""))) for t in item.get("context") or []]
            answer = engine.ask(item["question"], history=history, filters=filters, k=k, mode=mode)
            row = answer_json(answer, str(qid))
        except QuestionError as exc:
            row, failed = {"id": qid, "line": n, "question": item["question"], "error": str(exc)}, failed + 1
        except _BadLine as exc:
            row, failed = {"id": n if exc.qid is None else exc.qid, "line": n, "error": str(exc)}, failed + 1
        except Exception as exc:  # one question must not cost the rest of the file
            print(f"peerqa ask: line {n} could not be answered ({type(exc).__name__})", file=sys.stderr)
            row, failed = {"id": qid, "line": n, "error": "this question could not be answered"}, failed + 1
        _write_row(row)
    if failed:
        print(f"peerqa ask: {failed} of {len(lines)} line(s) could not be answered; see their \"error\"",
              file=sys.stderr)
    return EXIT_SOME_LINES_FAILED if failed else EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"ask": cmd_ask}
