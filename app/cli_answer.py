"""`peerqa ask`: one question (text or --json) or a JSONL file of questions (one JSON per line)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from peerqa.records import Answer

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SOME_LINES_FAILED = 0, 1, 2, 3


def add_commands(sub, add_index_dir) -> None:  # type: ignore[no-untyped-def]
    p = sub.add_parser("ask", help="answer a question from the evidence")
    p.add_argument("question", nargs="?", help="the question (omit with --jsonl)")
    add_index_dir(p)
    p.add_argument("--section", default="", help="only passages under this section path prefix (default: all)")
    p.add_argument("--source", default="", help="only passages of this source, id prefix or file name (default: all)")
    p.add_argument("--kind", default="", choices=["", "review", "included_study", "other"],
                   help="only passages of this kind of source (default: all)")
    p.add_argument("--k", type=int, default=None, help="passages to retrieve, 1-50 (default: "
                   "$PEERQA_RETRIEVAL__K, else 10)")
    p.add_argument("--mode", choices=["extractive", "llm"], default="extractive",
                   help="extractive (default) or llm: a generated answer whose citations are verified "
                        "(needs PEERQA_LLM__PROVIDER; falls back to extractive with a notice)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON (default: off, plain text)")
    p.add_argument("--jsonl", metavar="FILE", help="answer every question of a JSONL file; JSON Lines out "
                   "(default: none, answer the question given)")


def _labels(pages: list[int]) -> list[str]:
    return [str(p) for p in pages]


def answer_json(answer: Answer, qid: str | None = None, references: Mapping[str, Any] | None = None,
                sources_dir: Path | None = None) -> dict[str, Any]:
    """The answer in the CLI contract (app/cli_schema.py AnswerOut). A citation's studies are the
    ones its quoted sentences cite; `references` (the index's) give each retrieved passage its own."""
    from peerqa.app.provenance import chunk_fields, study_json
    from peerqa.settings import Settings

    folder = sources_dir or Settings().sources_dir
    refs = references or {}

    def fields(chunk: Any) -> dict[str, Any]:
        return chunk_fields(chunk, refs, folder)

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
            "sentences": [
                {"text": s.text, "citations": s.citations, "supported": s.supported,
                 "page_label": None if s.page is None else str(s.page), "page_labels": _labels(s.pages),
                 "role": s.role, "unit": s.unit}
                for s in answer.sentences
            ],
            "citations": [
                {
                    "n": c.n,
                    **fields(c.passage.chunk),
                    "studies": [study_json(r) for r in c.studies],
                    "text": c.passage.chunk.text,
                    "quote": c.quote,
                    "quote_page_labels": _labels(c.pages or [p for p in [c.passage.chunk.page_start] if p]),
                }
                for c in answer.citations
            ],
            "retrieved": [
                {
                    **fields(p.chunk),
                    "text": p.chunk.text,
                    "rank": p.rank,
                    "score": round(p.score, 6),
                    "dense_score": p.dense_score,
                    "bm25_score": p.bm25_score,
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
    """The answer as a reader sees it: a list's items on lines of their own under their lead-in,
    each with its later sentences."""
    if not answer.sentences or not answer.citations:
        return [answer.answer]
    lines: list[str] = []
    in_item = False  # an item's later sentences stay on its line
    for s in answer.sentences:
        marks = "".join(f" [{n}]" for n in s.citations)
        if in_item and s.continues:
            lines[-1] += f" {s.text}{marks}"
        elif s.role == "item":
            lines.append(f"    {s.text.lstrip('-•* ')}{marks}")
            in_item = True
        else:
            lines.append(f"{s.text}{marks}")
            in_item = False
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
    from peerqa.app.cli_schema import fail, print_json

    as_json = bool(args.json or args.jsonl)
    if bool(args.question) == bool(args.jsonl):
        return fail(as_json, "ask", "give a question or --jsonl FILE (not both)", EXIT_USAGE)
    if args.k is not None and not 1 <= args.k <= 50:
        return fail(as_json, "ask", "--k must be between 1 and 50", EXIT_USAGE)
    filters = Filters(section=args.section, source=args.source, kind=args.kind)
    if args.question is not None:
        from peerqa.app.answer.query import clean_question
        from peerqa.settings import Settings

        try:  # refuse a bad question before loading anything heavy
            clean_question(args.question, Settings().answer.max_question_chars)
        except QuestionError as exc:
            return fail(as_json, "ask", str(exc), EXIT_USAGE)
    if args.jsonl and not Path(args.jsonl).is_file():
        return fail(as_json, "ask", f"no such file {args.jsonl}", EXIT_USAGE)
    settings = _settings(args)
    engine = Engine.from_settings(settings)
    if args.jsonl:
        return _answer_jsonl(engine, Path(args.jsonl), filters, args.k, args.mode, settings.sources_dir)
    answer = engine.ask(args.question, filters=filters, k=args.k, mode=args.mode)
    if args.json:
        print_json(answer_json(answer, references=engine.index.references, sources_dir=settings.sources_dir))
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


def _answer_jsonl(engine: Any, path: Path, filters: Any, k: int | None, mode: str,
                  sources_dir: Path | None = None) -> int:
    """Answer every line that can be answered; a line that cannot becomes {"id", "line", "error"}
    and the exit code is 3."""
    from peerqa.app.answer.engine import QuestionError, Turn

    failed = 0
    try:
        lines = list(_jsonl_lines(path))
    except OSError as exc:
        from peerqa.app.cli_schema import fail

        return fail(True, "ask", f"cannot read {path}: {exc.strerror or exc}", EXIT_USAGE)
    for n, line in lines:
        qid: Any = n
        try:
            item = _question_item(n, line)
            qid = item.get("id", n)
            history = [Turn(str(t.get("question", "")), str(t.get("answer", ""))) for t in item.get("context") or []]
            answer = engine.ask(item["question"], history=history, filters=filters, k=k, mode=mode)
            row = answer_json(answer, str(qid), getattr(getattr(engine, "index", None), "references", None),
                              sources_dir)
        except QuestionError as exc:
            row, failed = _line_error(str(exc), qid, n, question=item["question"]), failed + 1
        except _BadLine as exc:
            row, failed = _line_error(str(exc), n if exc.qid is None else exc.qid, n), failed + 1
        except Exception as exc:  # one question must not cost the rest of the file
            print(f"peerqa ask: line {n} could not be answered ({type(exc).__name__})", file=sys.stderr)
            row, failed = _line_error("this question could not be answered", qid, n), failed + 1
        _write_row(row)
    if failed:
        print(f"peerqa ask: {failed} of {len(lines)} line(s) could not be answered; see their \"error\"",
              file=sys.stderr)
    return EXIT_SOME_LINES_FAILED if failed else EXIT_OK


def _line_error(message: str, qid: Any, line: int, **more: Any) -> dict[str, Any]:
    """A line of `ask --jsonl` that could not be answered: the contract's Error object."""
    return {"error": message, "command": "ask", "exit_code": EXIT_SOME_LINES_FAILED, "id": qid, "line": line, **more}


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"ask": cmd_ask}
