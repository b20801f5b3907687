"""Optional generative answers: the retrieved passages → a LangChain chat model → a cited answer
whose every sentence is then verified against the passages it cites (app/verify.py).

The chain is LCEL: ChatPromptTemplate (prompts/llm_answer.txt) | chat model | StrOutputParser.
Providers (PEERQA_LLM__PROVIDER): "openai" is any OpenAI-compatible endpoint through
langchain_openai.ChatOpenAI; "ollama" uses the same client against Ollama's OpenAI-compatible
/v1 endpoint (langchain-ollama is not a dependency; one client means one failure model).

Nothing here raises to the caller: an endpoint that is down, slow or replies badly, and an answer
that cannot be verified, all give the extractive answer with a notice. No API key, and no URL
credentials, ever reach a notice or a log line.

    llm_answer(engine, question, standalone, passages, extractive)      # what Engine.ask calls
    for text in stream_llm_answer(engine, standalone, passages): ...    # raw chunks, for live display
"""

from __future__ import annotations

import hashlib
import html
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from peerqa.app.answer.parts import EngineParts
from peerqa.app.answer.verify import (
    UNSUPPORTED_MARK,
    EngineEvidence,
    Thresholds,
    build_answer,
    parse_reply,
    verify,
)
from peerqa.prompts.templates import NO_ANSWER, chat_template, llm_messages
from peerqa.records import Answer, Passage
from peerqa.settings import LLMSettings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import Runnable


log = logging.getLogger(__name__)

# Passages given to the model: about 6 x 220 word pieces keeps the prompt inside a small local
# model's 2k-4k context (Ollama's default) with room for the answer.
LLM_MAX_PASSAGES = 6
# Two to six sentences is well under 2,000 characters; a reply far beyond that is a runaway model
# or a misbehaving endpoint, and would only cost memory and verification time.
MAX_REPLY_CHARS = 20_000
OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434/v1"
OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
THRESHOLDS = Thresholds()
_SECRET_QUERY_KEYS = re.compile(r"key|token|secret|password|passwd|sig", re.I)


class LLMFailure(RuntimeError):
    """The LLM gave no usable reply. The message is safe to show: no key, no URL credentials."""


# -- secrets ---------------------------------------------------------------------------------------
def redact_url(url: str) -> str:
    """The URL without user:password@ and without the values of key-like query parameters."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # unparsable: show nothing of it rather than risk showing a secret
        return "<invalid URL>"
    netloc = parts.netloc
    if parts.username is not None or parts.password is not None:
        netloc = "***@" + (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if _SECRET_QUERY_KEYS.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _secrets(llm: LLMSettings) -> list[str]:
    found = [llm.api_key.get_secret_value()]
    try:
        parts = urlsplit(llm.base_url)
        found += [parts.password or "", parts.username or ""]
        found += [v for k, v in parse_qsl(parts.query) if _SECRET_QUERY_KEYS.search(k)]
    except ValueError:
        pass
    return sorted({s for s in found if len(s) >= 3}, key=len, reverse=True)


def scrub(text: str, llm: LLMSettings) -> str:
    """Last line of defence for any text that leaves this module: blank out known secrets."""
    for secret in _secrets(llm):
        text = text.replace(secret, "***")
    return text


class _RedactingFilter(logging.Filter):
    """The HTTP clients log every request URL at INFO ("HTTP Request: POST http://..."); a base URL
    may carry user:password@. A logger's filters only see records logged to that very logger, so
    it is attached to each logger that prints URLs, not to a parent."""

    def __init__(self, llm: LLMSettings) -> None:
        super().__init__()
        self.llm = llm

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = re.sub(r"\b([a-z][a-z0-9+.-]*://)[^/\s@]*@", r"\1***@", scrub(message, self.llm), flags=re.I)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_filtered: set[str] = set()


def _guard_client_logs(llm: LLMSettings) -> None:
    # A digest, so the set of configurations seen does not keep the key itself in a global.
    key = hashlib.sha256(repr((llm.base_url, llm.api_key.get_secret_value())).encode()).hexdigest()
    if key in _filtered:
        return
    _filtered.add(key)
    for name in ("httpx", "httpx2", "openai", "openai._base_client"):
        logging.getLogger(name).addFilter(_RedactingFilter(llm))


# -- the chain ---------------------------------------------------------------------------------------
def make_chat_model(llm: LLMSettings) -> BaseChatModel:
    """A LangChain chat model for the configured provider, bounded by timeout_s with no retries."""
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        raise LLMFailure("langchain-openai is not installed (pip install 'peerqa[llm]')") from None
    if not llm.model:
        raise LLMFailure("PEERQA_LLM__MODEL is not set")
    base_url = llm.base_url or (OLLAMA_DEFAULT_URL if llm.provider == "ollama" else OPENAI_DEFAULT_URL)
    if llm.provider == "ollama" and not urlsplit(base_url).path.rstrip("/").endswith("/v1"):
        base_url = base_url.rstrip("/") + "/v1"  # Ollama's OpenAI-compatible API lives under /v1
    # Local OpenAI-compatible servers ignore the key but the client insists on one; passing it
    # explicitly also stops the client from picking up an unrelated OPENAI_API_KEY.
    key = llm.api_key.get_secret_value() or "no-key"
    _guard_client_logs(llm)
    return ChatOpenAI(model=llm.model, base_url=base_url, api_key=key,
                      timeout=llm.timeout_s, max_retries=0, temperature=0)


def format_passages(passages: list[Passage]) -> str:
    """Number the passages and wrap them as data. Document text is HTML-escaped, so a source
    containing '</passage>' or '<system>' cannot open or close an element of the prompt."""
    blocks = []
    for n, p in enumerate(passages, start=1):
        ch = p.chunk
        attrs = {"n": str(n), "source": ch.source_path, "section": ch.section,
                 "page": "" if ch.page_start is None else str(ch.page_start)}
        head = " ".join(f'{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
        blocks.append(f"<passage {head}>\n{html.escape(ch.text, quote=False)}\n</passage>")
    return "\n\n".join(blocks)


def answer_chain(chat_model: BaseChatModel) -> Runnable[dict[str, str], str]:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    t = chat_template("llm_answer")
    prompt = ChatPromptTemplate.from_messages([("system", t.system), ("human", t.human)])
    return prompt.partial(no_answer=NO_ANSWER) | chat_model | StrOutputParser()


def prompt_inputs(question: str, passages: list[Passage]) -> dict[str, str]:
    return {"question": html.escape(question, quote=False), "passages": format_passages(passages)}


# -- failures -----------------------------------------------------------------------------------------
def describe_failure(exc: BaseException, llm: LLMSettings) -> str:
    """A short reason for a notice. Built from the exception's type and status only: client
    exception texts can quote request URLs and headers, so they are never shown."""
    if isinstance(exc, LLMFailure):
        return scrub(str(exc), llm)
    names = {c.__name__ for c in type(exc).__mro__}
    status = getattr(exc, "status_code", None)
    if names & {"APITimeoutError", "TimeoutException", "TimeoutError"}:
        reason = f"no reply within {llm.timeout_s:g} s"
    elif "APIStatusError" in names and isinstance(status, int):
        reason = f"the endpoint refused the credentials (HTTP {status})" if status in (401, 403) \
            else f"the endpoint answered HTTP {status}"
    elif names & {"APIConnectionError", "TransportError", "ConnectionError", "OSError"}:
        reason = f"could not reach {redact_url(llm.base_url or OPENAI_DEFAULT_URL)}"
    elif names & {"APIResponseValidationError", "ValueError", "KeyError", "TypeError", "ValidationError"}:
        reason = "the reply was malformed"
    else:
        reason = f"unexpected error ({type(exc).__name__})"
    return scrub(reason, llm)


def _within_deadline(start: Callable[[], Iterator[str]], llm: LLMSettings) -> Iterator[str]:
    """Yield the stream's chunks, but never wait past timeout_s in total. The client's own timeout
    bounds each read, not the whole reply: a server trickling tokens could hold us for minutes.
    So the stream is read in a daemon thread and abandoned at the deadline (it ends on its own at
    the next chunk or at the client's read timeout)."""
    inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()

    def pump() -> None:
        stream: Iterator[str] | None = None
        try:
            stream = start()
            for chunk in stream:
                if stop.is_set():
                    break
                inbox.put(("chunk", chunk))
            inbox.put(("done", None))
        except BaseException as exc:  # handed to the caller, never raised in this thread
            inbox.put(("error", exc))
        finally:
            close = getattr(stream, "close", None)
            if callable(close):
                try:
                    close()  # closes the HTTP response
                except Exception:  # noqa: S110 - the reply is already abandoned
                    pass

    threading.Thread(target=pump, name="peerqa-llm", daemon=True).start()
    deadline = time.monotonic() + llm.timeout_s
    timed_out = f"no reply within {llm.timeout_s:g} s"
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LLMFailure(timed_out)
            try:
                kind, value = inbox.get(timeout=remaining)
            except queue.Empty:
                raise LLMFailure(timed_out) from None
            if kind == "chunk":
                yield str(value)
            elif kind == "done":
                return
            else:
                # `from None`: the client's exception text may quote headers; keep it out of tracebacks.
                raise LLMFailure(describe_failure(value, llm)) from None
    finally:
        stop.set()


def stream_llm_answer(engine: EngineParts, question: str, passages: list[Passage], *,
                      chat_model: BaseChatModel | None = None) -> Iterator[str]:
    """The model's raw reply as it arrives, for live display. `question` should be the standalone
    question (follow-ups folded in, app.answer.query.prepare); at most LLM_MAX_PASSAGES passages are sent,
    numbered from 1 in the order given. Raises LLMFailure (a safe message) on any failure,
    including no complete reply within settings.llm.timeout_s. The text is not verified: pass the
    joined chunks to `finish_llm_answer` for the answer to show."""
    llm = engine.settings.llm
    model = chat_model if chat_model is not None else make_chat_model(llm)
    chain = answer_chain(model)
    inputs = prompt_inputs(question, passages[:LLM_MAX_PASSAGES])
    yield from _within_deadline(lambda: chain.stream(inputs), llm)


# -- the answer ---------------------------------------------------------------------------------------
def fallback(extractive: Answer, notice: str) -> Answer:
    return extractive.model_copy(update={"notice": notice, "mode": "extractive"})


def finish_llm_answer(engine: EngineParts, question: str, passages: list[Passage], reply: str,
                      extractive: Answer) -> Answer:
    """Verify a complete reply. The LLM answer (mode "llm") if at least one sentence is supported by
    the passages it cites, else the extractive answer with a notice."""
    msgs = llm_messages()
    shown = passages[:LLM_MAX_PASSAGES]
    reply = reply.strip()
    if not reply:
        return fallback(extractive, msgs["failed"].format(reason="the reply was empty"))
    if reply.strip(" .\"'`*").upper() == NO_ANSWER:
        log.info("LLM found no answer in the passages; extractive answer returned")
        return fallback(extractive, msgs["no_answer"])
    verdicts = verify(parse_reply(reply), shown, EngineEvidence(engine), THRESHOLDS)
    claims = [v for v in verdicts if v.checkable]
    if not any(v.supported for v in claims):
        log.info("LLM answer: none of %d sentences supported; extractive answer returned", len(claims))
        return fallback(extractive, msgs["unsupported"])
    answer = build_answer(question, shown, verdicts, engine.index.references, extractive.retrieved)
    notes = []
    unsupported = sum(not v.supported for v in claims)
    if unsupported:
        notes.append(msgs["partial"].format(unsupported=unsupported, total=len(claims), mark=UNSUPPORTED_MARK))
    invented = sum(len(v.invented) for v in verdicts)
    if invented:
        notes.append(msgs["invented"].format(count=invented))
    answer.notice = " ".join(notes)
    return answer


def llm_answer(engine: EngineParts, question: str, standalone: str, passages: list[Passage], extractive: Answer,
               *, chat_model: BaseChatModel | None = None,
               on_chunk: Callable[[str], None] | None = None) -> Answer:
    """The generated, verified answer; or `extractive` with a notice when the LLM fails, times out
    or writes nothing verifiable. Never raises. `chat_model` replaces the configured one (tests);
    `on_chunk` sees the raw reply as it streams in (a live preview before verification)."""
    llm = engine.settings.llm
    msgs = llm_messages()
    try:
        parts: list[str] = []
        size = 0
        for chunk in stream_llm_answer(engine, standalone, passages, chat_model=chat_model):
            parts.append(chunk)
            size += len(chunk)
            if size > MAX_REPLY_CHARS:
                raise LLMFailure("the reply was far too long")
            if on_chunk is not None:
                on_chunk(chunk)
        return finish_llm_answer(engine, question, passages, "".join(parts), extractive)
    except Exception as exc:  # noqa: BLE001 - any failure here must leave the extractive answer standing
        reason = describe_failure(exc, llm)
        # Only the reason: never the question (it may hold health details) nor the exception text.
        log.warning("LLM answer unavailable: %s", reason)
        return fallback(extractive, msgs["failed"].format(reason=reason))
