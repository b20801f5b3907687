"""Questions the model cannot read are refused; questions in another language get a note; and
`ask --jsonl` answers every line it can, reporting the others as error objects (exit 3)."""

from __future__ import annotations

import json

import pytest

from peerqa.app.answer.engine import Engine, QuestionError
from peerqa.app.answer.question_check import language_note, mostly_foreign, unreadable
from peerqa.app.cli import main
from peerqa.prompts import messages
from tests.fakes import engine_over_text
from tests.test_unit_ingest import MINI_DOC

pytestmark = pytest.mark.unit

NO_WORDS = ["a", "?!?...;;", "\u200b\u200b\u200d", "😀🙏😀", "- . -", "\u2060?"]
FOREIGN = [
    "ما هو دعم الأقران في خدمات الصحة النفسية؟",
    "同伴支持工作者需要什么培训？",
    "Quelle est la formation des travailleurs pairs?",
    "¿Qué formación necesitan los trabajadores de apoyo entre pares?",
    "Cad é an oiliúint atá ag teastáil ó oibrithe tacaíochta piaraí?",
    "Wie ist die Ausbildung der Peer-Support-Mitarbeiter?",
]
ENGLISH = ["What did Smith et al. find about peer support?", "CAMHS?", "Is the role of a PSW in A&E clear?",
           "What training do peer support workers need?"]


@pytest.fixture
def engine(settings_factory):
    return engine_over_text(settings_factory(), "mini.txt", MINI_DOC)


@pytest.mark.parametrize("question", NO_WORDS)
def test_a_question_with_no_readable_word_is_refused_with_the_usual_message(engine, question):
    assert unreadable(question) == messages()["empty_question"]
    with pytest.raises(QuestionError, match="Please type a question"):
        engine.ask(question)


def test_a_question_with_a_lone_surrogate_is_refused(engine):
    with pytest.raises(QuestionError, match="not valid text"):
        engine.ask("What is peer respite?\ud800")


@pytest.mark.parametrize("question", FOREIGN)
def test_a_question_in_another_language_gets_a_note_that_the_sources_are_english(engine, question):
    assert mostly_foreign(question)
    answer = engine.ask(question)
    assert language_note(question) and language_note(question) in answer.notice


@pytest.mark.parametrize("question", ENGLISH)
def test_english_questions_get_no_language_note(engine, question):
    assert not unreadable(question) and not mostly_foreign(question)
    assert messages()["other_language"] not in engine.ask(question).notice


class RecordingEngine:
    def __init__(self, real: Engine):
        self.real, self.asked = real, []

    def ask(self, question, **kw):
        if question == "explode":
            raise RuntimeError("internal /srv/detail")
        self.asked.append(question)
        return self.real.ask(question, **kw)


def test_jsonl_answers_every_good_line_and_reports_each_bad_one(engine, tmp_path, monkeypatch, capsys):
    recording = RecordingEngine(engine)
    monkeypatch.setattr(Engine, "from_settings", classmethod(lambda cls, settings: recording))
    lines = [
        json.dumps({"id": "ok1", "question": "What training do peer workers need?"}).encode(),
        b'{"id": "surrogate", "question": "peer \\ud800 support"}',
        b'{"id": "latin1", "question": "caf\xe9 groups?"}',  # not UTF-8
        b"{not json",
        b'["a", "list"]',
        json.dumps({"id": "nowords", "question": "?!?"}).encode(),
        json.dumps({"id": "boom", "question": "explode"}).encode(),
        b"",
        json.dumps({"id": "ok2", "question": "And for families?",
                    "context": [{"question": "What training do peer workers need?", "answer": ""}]}).encode(),
    ]
    path = tmp_path / "q.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["ask", "--jsonl", str(path)]) == 3
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["ok1", "surrogate", 3, 4, 5, "nowords", "boom", "ok2"]
    by_id = {r["id"]: r for r in rows}
    assert "answer" in by_id["ok1"] and "answer" in by_id["ok2"] and "error" not in by_id["ok2"]
    assert "surrogate" in by_id["surrogate"]["error"] and by_id["surrogate"]["line"] == 2
    assert "not UTF-8" in by_id[3]["error"] and "not valid JSON" in by_id[4]["error"]
    assert "not a JSON object" in by_id[5]["error"]
    assert by_id["nowords"]["error"] == messages()["empty_question"]
    assert by_id["boom"]["error"] == "this question could not be answered" and "/srv" not in out + err
    assert recording.asked == ["What training do peer workers need?", "?!?", "And for families?"]  # bad lines never reach it
    assert "6 of 8 line(s) could not be answered" in err and "Traceback" not in err


def test_jsonl_with_only_good_lines_exits_0(engine, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Engine, "from_settings", classmethod(lambda cls, settings: engine))
    path = tmp_path / "q.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "question": "What is peer respite?"}).encode() + b"\n")
    assert main(["ask", "--jsonl", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "a"
