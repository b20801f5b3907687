"""`peerqa page SOURCE PAGE --out page.png`: the cited page of a source, rendered from the PDF with
the quoted text highlighted, as the app shows it. SOURCE is the file name citations show; PAGE is
the number printed on the page. A .txt/.md source has no pages: the passage holding the
highlighted text is printed in its surrounding text instead (or written to --out)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from peerqa.app.cli_schema import fail, print_json

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_commands(sub, add_index_dir) -> None:  # type: ignore[no-untyped-def]
    p = sub.add_parser("page", help="render a cited page of a source to PNG, with the quote highlighted")
    p.add_argument("source", metavar="SOURCE", help="the source's file name, as citations show it")
    p.add_argument("page", metavar="PAGE", type=int, help="the page number printed on the page")
    add_index_dir(p)
    p.add_argument("--highlight", action="append", default=[], metavar="TEXT",
                   help="text to highlight (repeatable; sentences joined with ' … ' count separately; default: none)")
    p.add_argument("--out", metavar="FILE", help="where to write the PNG (required for a PDF; default: none)")
    p.add_argument("--scale", type=float, default=None, help="pixels per PDF point, 0.2-6 (default: 1.5)")
    p.add_argument("--json", action="store_true", help="print what was rendered (or the text passage) as JSON "
                   "(default: off, a summary line on stderr)")


def _source_path(args: argparse.Namespace) -> Path | None:
    from peerqa.app.cli import _settings
    from peerqa.app.page_view import find_source_file

    settings = _settings(args)
    found = find_source_file(settings.sources_dir, args.source)
    if found is None and Path(args.source).is_file():
        found = Path(args.source)  # a path given directly
    return found


def cmd_page(args: argparse.Namespace) -> int:
    from peerqa.app.page_view import DEFAULT_SCALE, PageError, quote_parts, render_page

    path = _source_path(args)
    if path is None:
        return fail(args.json, "page", f"no source named {args.source!r} in the sources folder "
              "(PEERQA_SOURCES_DIR); give the file name a citation shows", EXIT_USAGE)
    quotes = [part for text in args.highlight for part in quote_parts(text)]
    if path.suffix.lower() in (".txt", ".md"):
        return _text_source(args, path, quotes)
    if not args.out:
        return fail(args.json, "page", "--out FILE is required (where to write the PNG)", EXIT_USAGE)
    scale = args.scale or DEFAULT_SCALE
    if not 0.2 <= scale <= 6:
        return fail(args.json, "page", "--scale must be between 0.2 and 6", EXIT_USAGE)
    try:
        page = render_page(path, args.page, quotes, scale=scale)
    except PageError as exc:
        return fail(args.json, "page", f"{exc}", EXIT_USAGE)
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_bytes(page.png)
        tmp.replace(out)  # never half a file
    except OSError as exc:
        return fail(args.json, "page", f"cannot write {out}: {exc.strerror or exc}", EXIT_FAILED)
    if args.json:
        print_json({"source": path.name, "page": page.page_index, "page_label": str(page.printed), "pages": page.pages,
                    "out": str(out), "width": page.width, "height": page.height, "highlight_boxes": len(page.boxes),
                    "quotes": page.quotes, "located": page.located, "ms": round(page.seconds * 1000, 1),
                    "note": page.note})
        return EXIT_OK
    print(f"peerqa page: {path.name} p. {page.printed} (page {page.page_index + 1} of {page.pages} in the file) "
          f"→ {out} ({page.width}×{page.height} px, {len(page.boxes)} highlight box(es), "
          f"{page.located}/{page.quotes} quote(s) located, {page.seconds * 1000:.0f} ms)", file=sys.stderr)
    if page.note:
        print(f"peerqa page: {page.note}", file=sys.stderr)
    return EXIT_OK


def _text_source(args: argparse.Namespace, path: Path, quotes: list[str]) -> int:
    """No pages: print the passage holding the first quote with its neighbours."""
    from peerqa.app.cli import _settings
    from peerqa.app.page_view import passage_in_context
    from peerqa.app.runtime import open_index
    from peerqa.index.store import IndexLoadError

    if not quotes:
        return fail(args.json, "page", f"{path.name} is a text file with no pages; give --highlight TEXT to see the "
              "passage holding it in context", EXIT_USAGE)
    try:
        index = open_index(_settings(args))
    except IndexLoadError as exc:
        return fail(args.json, "page", f"{exc}", EXIT_FAILED)
    folded = " ".join(quotes[0].split()).lower()
    chunk = next((c for c in index.chunks if c.source_path == path.name and folded in " ".join(c.text.split()).lower()), None)
    if chunk is None:
        return fail(args.json, "page", f"no passage of {path.name} in the index contains that text", EXIT_USAGE)
    text, (start, end) = passage_in_context(index.chunks, chunk)
    if args.json:
        print_json({"source": path.name, "chunk_id": chunk.id, "text": text, "highlight": [start, end]})
        return EXIT_OK
    shown = f"{text[:start]}>>> {text[start:end]} <<<{text[end:]}\n"
    if args.out:
        Path(args.out).write_text(shown, encoding="utf-8")
    else:
        sys.stdout.write(shown)
    return EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"page": cmd_page}
