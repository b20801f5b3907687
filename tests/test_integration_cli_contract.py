"""One CLI contract: every command run with --json, its output validated against app/cli_schema.py;
with --json every failure is one Error object on stdout and a non-zero exit; every option has help
text that states its default."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from peerqa.app import cli_schema
from peerqa.app.cli import build_parser, main
from peerqa.app.runtime import open_index
from tests.conftest import REPO, REVIEW_PDF

pytestmark = pytest.mark.integration


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def one(capsys, command: str, *argv: str, expect: int = 0):
    code, out = run(capsys, *argv)
    assert code == expect, out
    return cli_schema.validate(command, json.loads(out))


def lines(command: str, out: str) -> list:
    return [cli_schema.validate(command, json.loads(line)) for line in out.splitlines() if line.strip()]


def test_every_command_prints_the_contract_with_json(review_index, tmp_path, capsys, pg_url):
    settings, _ = review_index
    index = str(settings.index_dir)
    os.environ["PEERQA_SOURCES_DIR"] = str(settings.sources_dir)
    try:
        _every_command(capsys, settings, index, tmp_path, pg_url)
    finally:
        os.environ.pop("PEERQA_SOURCES_DIR", None)


def _every_command(capsys, settings, index: str, tmp_path: Path, pg_url: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "note.txt").write_text("Peer workers in prisons.\n\n" + "Peer support workers visited the prison "
                                  "weekly and helped people plan their release and find housing. " * 6,
                                  encoding="utf-8")
    built = one(capsys, "ingest", "ingest", str(src), "--index-dir", str(tmp_path / "small"), "--json")
    assert isinstance(built, cli_schema.IngestOut) and built.sources[0].source == "note.txt"

    code, out = run(capsys, "chunks", "--index-dir", index, "--json")
    rows = lines("chunks", out)
    assert code == 0 and len(rows) > 200 and all(isinstance(r, cli_schema.ChunkRow) for r in rows)
    assert all(r.page is not None and r.page_label for r in rows)  # the PDF is in the sources folder
    assert any(r.studies for r in rows)
    code, plain = run(capsys, "chunks", "--index-dir", index)  # JSON Lines without any flag too
    assert code == 0 and plain == out

    info = one(capsys, "index-info", "index-info", "--index-dir", index, "--json")
    assert isinstance(info, cli_schema.IndexInfoOut) and info.index_version == open_index(settings).version
    assert info.sources[0].source == REVIEW_PDF.name

    answer = one(capsys, "ask", "ask", "What training do PSWs need?", "--index-dir", index, "--json")
    assert isinstance(answer, cli_schema.AnswerOut) and answer.citations and answer.index_version == info.index_version
    cited = {r.chunk_id: r for r in answer.retrieved}
    assert all(c.source == REVIEW_PDF.name and c.page_label for c in answer.citations)
    assert all(c.page == cited[c.chunk_id].page for c in answer.citations if c.chunk_id in cited)
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "a", "question": "What is peer respite?"}) + "\n{not json}\n",
                         encoding="utf-8")
    code, out = run(capsys, "ask", "--jsonl", str(questions), "--index-dir", index)
    got = lines("ask", out)
    assert code == 3 and isinstance(got[0], cli_schema.AnswerOut) and isinstance(got[1], cli_schema.Error)
    assert got[1].line == 2

    from peerqa.app.feedback import FeedbackEntry, FeedbackStore

    db = tmp_path / "feedback.sqlite"
    FeedbackStore(db).save(FeedbackEntry("x" * 16, "What is peer respite?", "An answer.", False, "up"))
    code, out = run(capsys, "feedback-export", "--db", str(db), "--json")
    assert code == 0 and all(isinstance(r, cli_schema.FeedbackRow) for r in lines("feedback-export", out))
    summary = one(capsys, "feedback-export", "feedback-export", "--db", str(db), "--out", str(tmp_path / "fb.jsonl"),
                  "--json")
    assert isinstance(summary, cli_schema.FeedbackExportOut) and summary.exported == 1

    small_q = tmp_path / "eval.jsonl"
    small_q.write_text("".join(line + "\n" for line in (REPO / "eval" / "questions.jsonl").read_text().splitlines()[:3]),
                       encoding="utf-8")
    ev = one(capsys, "eval", "eval", "--questions", str(small_q), "--index-dir", index, "--systems", "bm25",
             "--report", str(tmp_path / "report"), "--json")
    assert isinstance(ev, cli_schema.EvalOut) and ev.n_questions == 3 and ev.systems["bm25"].hit_at_5 is not None

    bench = one(capsys, "bench", "bench", "--scale-only", "--scale", "2000", "--json")
    assert isinstance(bench, cli_schema.BenchOut) and bench.model_extra and "scale" in bench.model_extra

    page = one(capsys, "page", "page", REVIEW_PDF.name, answer.citations[0].page_label, "--index-dir", index,
               "--highlight", answer.citations[0].quote, "--out", str(tmp_path / "p.png"), "--json")
    assert isinstance(page, cli_schema.PageOut) and page.page == answer.citations[0].page and page.located >= 1

    init = one(capsys, "store init", "store", "init", "--store", pg_url, "--json")
    assert isinstance(init, cli_schema.StoreInitOut) and init.schema_version >= 1 and init.applied
    copied = one(capsys, "store copy", "store", "copy", "--from", index, "--to", pg_url, "--json")
    assert isinstance(copied, cli_schema.StoreCopyOut) and copied.index_version == info.index_version
    status = one(capsys, "store status", "store", "status", "--store", pg_url, "--json")
    assert isinstance(status, cli_schema.StoreStatusOut) and status.index_version == info.index_version

    serve = subprocess.Popen([sys.executable, "-m", "peerqa", "serve", "--index-dir", index, "--port", "0", "--json"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             start_new_session=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    try:
        assert serve.stdout is not None
        ready = cli_schema.validate("serve", json.loads(serve.stdout.readline()))
        assert isinstance(ready, cli_schema.ServeOut) and ready.index_version == info.index_version
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=30)


ERRORS = [
    (["ingest", "--store", "mysql://x", "--json"], 2),
    (["chunks", "--index-dir", "{empty}", "--json"], 1),
    (["index-info", "--index-dir", "{empty}", "--json"], 1),
    (["serve", "--port", "eighty", "--json"], 2),
    (["ask", "   ", "--json"], 2),
    (["ask", "What is peer respite?", "--k", "0", "--json"], 2),
    (["ask", "What is peer respite?", "--index-dir", "{empty}", "--json"], 1),
    (["ask", "--bogus", "--json"], 2),
    (["feedback-export", "--db", "{garbage}", "--json"], 1),
    (["eval", "--systems", "nonsense", "--json"], 2),
    (["bench", "--scale", "abc", "--json"], 2),
    (["store", "status", "--store", "", "--json"], 2),
    (["store", "copy", "--from", "{empty}", "--to", "{empty}", "--json"], 2),
    (["page", "no-such.pdf", "3", "--out", "x.png", "--json"], 2),
]


@pytest.mark.parametrize(("argv", "code"), ERRORS, ids=[" ".join(a[:2]) for a, _c in ERRORS])
def test_with_json_every_failure_is_one_error_object_on_stdout(argv, code, tmp_path, capsys):
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    argv = [a.format(empty=tmp_path / "empty", garbage=garbage) for a in argv]
    got, out = run(capsys, *argv)
    assert got == code
    error = cli_schema.validate("ask", json.loads(out))  # any command: an error object validates as Error
    assert isinstance(error, cli_schema.Error) and error.exit_code == code and error.error
    assert error.command.split()[0] == argv[0]


def _options(parser: argparse.ArgumentParser, path: str = "peerqa"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield path, action


def test_every_option_has_help_with_its_real_default():
    missing, wrong = [], []
    for path, action in _options(build_parser()):
        name = f"{path} {'/'.join(action.option_strings) or action.dest}"
        text = action.help or ""
        if not text or text == argparse.SUPPRESS:
            missing.append(name)
            continue
        default = action.default
        if action.option_strings and default not in (None, False, "", [], argparse.SUPPRESS):
            shown = str(default)
            if "default" not in text.lower() or (len(shown) < 20 and shown not in text and "%(default)" not in text):
                wrong.append(f"{name}: default {default!r} not in {text!r}")
        elif action.option_strings and "default" not in text.lower() and action.required is False:
            wrong.append(f"{name}: says no default: {text!r}")
    assert missing == [] and wrong == []


def test_version_and_python_m(tmp_path):
    import peerqa

    out = subprocess.run([sys.executable, "-m", "peerqa", "--version"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == f"peerqa {peerqa.__version__}"
    assert peerqa.__version__[0].isdigit()


def test_json_schema_names_every_command():
    schema = cli_schema.cli_json_schema()
    assert set(schema) == {"error", *cli_schema.OUTPUTS}
    assert "properties" in schema["ask"] and json.dumps(schema)
