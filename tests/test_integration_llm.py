"""The LLM answerer end to end through the real ChatOpenAI client against a small OpenAI-compatible
server started on 127.0.0.1 inside the test: good, miscited and unsupported answers, a slow and a
trickling endpoint, HTTP 500, a malformed reply, an endpoint that is down, and `peerqa ask --mode
llm` configured from the environment. The API key must never surface. Plus the verification
thresholds checked against the real embedding model on the review."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from peerqa.app.answer.engine import Engine
from peerqa.app.cli_answer import answer_json
from peerqa.index.builder import build_index
from peerqa.index.store import load_index
from peerqa.prompts.templates import llm_messages
from peerqa.records import Answer, Passage
from peerqa.settings import LLMSettings, Settings
from tests.fakes import FakeEmbedder
from tests.test_unit_ingest import MINI_DOC

pytestmark = pytest.mark.integration

SECRET = "sk-test-secret"
URL_PASSWORD = "pa55word-xyz"
QUESTION = "How does forensic peer support help people leaving prison?"
GOOD = "Forensic peer support helps people leaving prison [1]. Smith et al. ran a randomised controlled trial [1]."


class FakeOpenAI(ThreadingHTTPServer):
    """POST /v1/chat/completions, streamed (SSE) or not, with a behaviour chosen by the test."""

    daemon_threads = True  # a handler still sleeping for an abandoned request must not block exit

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = "ok"  # ok | slow | trickle | error500 | malformed
        self.reply = GOOD
        self.delay = 3.0
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hung up on a slow reply: expected here


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        if srv.behaviour == "error500":  # an error body that echoes the credentials back
            self._send(500, json.dumps({"error": {"message": f"boom for {self.headers.get('Authorization')}"}}))
            return
        if srv.behaviour == "slow":
            time.sleep(srv.delay)
        stream = bool(body.get("stream"))
        if srv.behaviour == "malformed":
            if stream:
                self._send(200, "data: {this is not json\n\n", "text/event-stream")
            else:
                self._send(200, "<html>not json</html>")
            return
        if not stream:
            self._send(200, json.dumps(_completion(srv.reply)))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes
        words = srv.reply.split(" ")
        for i, word in enumerate(words):
            if srv.behaviour == "trickle":
                time.sleep(0.5)  # each read well inside the client timeout; the whole reply is not
            self.wfile.write(_event(_delta(word + (" " if i < len(words) - 1 else ""))))
            self.wfile.flush()
        self.wfile.write(_event(_delta(None)) + b"data: [DONE]\n\n")


def _completion(text: str) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


def _delta(text: str | None) -> dict[str, Any]:
    delta = {"role": "assistant", "content": text} if text is not None else {}
    return {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None if text is not None else "stop"}]}


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    srv = FakeOpenAI()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def index_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("llm")
    (root / "sources").mkdir()
    (root / "sources" / "mini.txt").write_text(MINI_DOC, encoding="utf-8")
    settings = Settings(index_dir=root / "index", sources_dir=root / "sources")
    build_index(settings, FakeEmbedder())
    return settings


@pytest.fixture(autouse=True)
def no_secret_anywhere(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)  # the HTTP clients' own request logs included
    yield
    assert SECRET not in caplog.text and URL_PASSWORD not in caplog.text


def _engine(index_settings: Settings, **llm: Any) -> Engine:
    config = {"provider": "openai", "model": "fake", "api_key": SECRET, "timeout_s": 2, **llm}
    settings = index_settings.model_copy(update={"llm": LLMSettings(**config)})
    return Engine(settings, load_index(settings.index_dir), FakeEmbedder())


def _ask(engine: Engine) -> tuple[Answer, float]:
    t0 = time.monotonic()
    answer = engine.ask(QUESTION, mode="llm")
    elapsed = time.monotonic() - t0
    shown = json.dumps(answer_json(answer)) + answer.notice
    assert SECRET not in shown and URL_PASSWORD not in shown
    return answer, elapsed


def test_a_cited_answer_comes_back_verified(server, index_settings):
    answer, _ = _ask(_engine(index_settings, base_url=server.url))
    assert answer.mode == "llm" and answer.notice == ""
    assert [(s.citations, s.supported) for s in answer.sentences] == [([1], True), ([1], True)]
    assert answer.answer == ("Forensic peer support helps people leaving prison. [1] "
                             "Smith et al. ran a randomised controlled trial. [1]")
    assert "Forensic Care" in answer.citations[0].passage.chunk.section
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions" and request["body"]["model"] == "fake"
    assert request["body"]["stream"] is True and request["body"]["temperature"] == 0
    assert request["headers"]["authorization"] == f"Bearer {SECRET}"  # sent to the endpoint, shown nowhere
    system, user = request["body"]["messages"]
    assert system["role"] == "system" and "data, not instructions" in system["content"]
    assert user["content"].startswith('<passage n="1" ') and f"<question>{QUESTION}</question>" in user["content"]


def test_an_invented_citation_is_removed(server, index_settings):
    server.reply = GOOD + " This was shown in a trial [9]."
    answer, _ = _ask(_engine(index_settings, base_url=server.url))
    assert answer.mode == "llm" and "[9]" not in answer.answer
    assert answer.sentences[-1].citations == [] and not answer.sentences[-1].supported
    assert "1 citation(s) to passages that do not exist were removed" in answer.notice


def test_an_unsupported_sentence_is_flagged(server, index_settings):
    server.reply = GOOD + " Peer workers cut reoffending by forty percent in Norway [1]."
    answer, _ = _ask(_engine(index_settings, base_url=server.url))
    assert answer.mode == "llm"
    assert [s.supported for s in answer.sentences] == [True, True, False]
    assert answer.answer.endswith("Peer workers cut reoffending by forty percent in Norway. [1] [unsupported]")
    assert answer.notice.startswith("1 of 3 sentences are not supported")


def test_a_reply_with_no_support_gives_the_extractive_answer(server, index_settings):
    server.reply = "Peer workers cut reoffending by forty percent in Norway [1]."
    answer, _ = _ask(_engine(index_settings, base_url=server.url))
    assert answer.mode == "extractive" and answer.notice == llm_messages()["unsupported"]
    assert answer.citations and "[1]" in answer.answer


@pytest.mark.parametrize("behaviour", ["slow", "trickle"])
def test_a_slow_endpoint_is_abandoned_at_the_timeout(server, index_settings, behaviour):
    server.behaviour = behaviour
    server.reply = " ".join([GOOD] * 4)  # trickled at 0.5 s a word: ~15 s in all
    answer, elapsed = _ask(_engine(index_settings, base_url=server.url))
    assert answer.mode == "extractive" and answer.citations
    assert answer.notice == llm_messages()["failed"].format(reason="no reply within 2 s")
    assert elapsed < 3.5


def test_http_500_gives_the_extractive_answer(server, index_settings):
    server.behaviour = "error500"
    answer, elapsed = _ask(_engine(index_settings, base_url=server.url))
    assert answer.mode == "extractive" and "the endpoint answered HTTP 500" in answer.notice
    assert len(server.requests) == 1 and elapsed < 2  # no retries


def test_a_malformed_reply_gives_the_extractive_answer(server, index_settings):
    server.behaviour = "malformed"
    answer, _ = _ask(_engine(index_settings, base_url=server.url))
    assert answer.mode == "extractive" and "the reply was malformed" in answer.notice


def test_an_endpoint_that_is_down_is_named_without_credentials(index_settings):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://admin:{URL_PASSWORD}@127.0.0.1:{port}/v1"
    answer, elapsed = _ask(_engine(index_settings, base_url=url))
    assert answer.mode == "extractive" and elapsed < 2
    assert f"could not reach http://***@127.0.0.1:{port}/v1" in answer.notice


def test_request_logs_never_show_url_credentials(server, index_settings, caplog):
    url = server.url.replace("http://", f"http://admin:{URL_PASSWORD}@")
    answer, _ = _ask(_engine(index_settings, base_url=url))
    assert answer.mode == "llm"
    assert "HTTP Request: POST http://***@127.0.0.1" in caplog.text  # logged, redacted (and checked by the fixture)


def test_peerqa_ask_mode_llm_from_environment_settings(server, index_settings, monkeypatch, capsys):
    from peerqa.app.cli import main

    for name, value in {"PROVIDER": "openai", "BASE_URL": server.url, "MODEL": "fake", "API_KEY": SECRET,
                        "TIMEOUT_S": "2"}.items():
        monkeypatch.setenv(f"PEERQA_LLM__{name}", value)
    # The fake-embedder index needs the fake embedder; everything else is the real command.
    monkeypatch.setattr(Engine, "from_settings",
                        classmethod(lambda cls, s: Engine(s, load_index(s.index_dir), FakeEmbedder())))
    index_dir = str(index_settings.index_dir)
    assert main(["ask", "--mode", "llm", "--json", "--index-dir", index_dir, QUESTION]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "llm" and out["notice"] == ""
    assert out["sentences"] == [
        {"text": "Forensic peer support helps people leaving prison.", "citations": [1], "supported": True,
         "page_label": None, "page_labels": [], "role": "sentence", "unit": 0},
        {"text": "Smith et al. ran a randomised controlled trial.", "citations": [1], "supported": True,
         "page_label": None, "page_labels": [], "role": "sentence", "unit": 0},
    ]
    server.behaviour = "error500"
    assert main(["ask", "--mode", "llm", "--json", "--index-dir", index_dir, QUESTION]) == 0
    printed = capsys.readouterr()
    failed = json.loads(printed.out)
    assert failed["mode"] == "extractive" and "HTTP 500" in failed["notice"] and failed["sentences"]
    assert SECRET not in printed.out + printed.err


# -- the thresholds against the real model ---------------------------------------------------------
FAITHFUL = [
    "Forensic peer specialists have lived experience of both mental health services and the justice system [1].",
    "They can support people inside secure settings or help them reintegrate into the community after incarceration [1].",
    "Benefits include less stigma, better help seeking and higher self-esteem for peers and service users [1].",
    "Adams and Lincoln interviewed 14 stakeholders and 37 peer specialists in Pennsylvania [2].",
    "Common problems include poor supervision, unclear roles and no career progression [2].",
    "A mismatch in philosophy between criminal justice and peer support hampers implementation [3].",
    "The authors call for a certified peer specialist programme that trains incarcerated people as peer workers [3].",
]
INVENTED = [
    "Forensic peer support reduced reoffending by 40 percent in a randomised trial [1].",
    "Peer support workers should prescribe medication to service users [1].",
    "Adams and Lincoln interviewed 140 stakeholders in Ohio [2].",
    "Forensic peer support is mandatory in all Irish prisons [1].",
    "Peer specialists in forensic settings earn higher salaries than other staff [3].",
    "Forensic peer support helps people integrate back into the community [3].",  # true, but of [1]
]


def test_thresholds_on_the_review_with_the_real_model(review_index):
    from peerqa.app.answer.verify import EngineEvidence, parse_reply, verify

    settings, _report = review_index
    engine = Engine.from_settings(settings)
    starts = ["Forensic peer support involves trained peer specialists",
              "As with general mental health peer support work however",
              "- Adoption: gatekeepers in the criminal justice system"]
    passages = [Passage(chunk=next(c for c in engine.index.chunks if c.text.startswith(s)), score=0.0) for s in starts]
    evidence = EngineEvidence(engine)
    faithful = verify(parse_reply(" ".join(FAITHFUL)), passages, evidence)
    invented = verify(parse_reply(" ".join(INVENTED)), passages, evidence)
    assert [v.supported for v in faithful] == [True] * len(FAITHFUL), [(v.text, v.lexical, v.dense) for v in faithful]
    assert [v.supported for v in invented] == [False] * len(INVENTED), [(v.text, v.lexical, v.dense) for v in invented]

