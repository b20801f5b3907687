"""Is this file text? Checked on the bytes of a .txt or .md source before anything parses it.

Random bytes, a program or an archive renamed `.txt` decode to *something* (Windows-1252 maps
almost every byte to a character), so decoding alone proves nothing. The checks, in order:

1. NUL bytes: text has none, except UTF-16, whose NULs fall on every other byte. Anything else
   with NULs is binary (programs, archives, images, databases).
2. After decoding (BOM, UTF-16, UTF-8, else Windows-1252): the share of control characters
   (other than tab, newline, carriage return and form feed) and of replacement characters
   (bytes that are no character in the encoding).
3. The share of letters among the characters that are not white space: prose, Markdown, even
   tables of figures keep well over a third; binary decoded as Windows-1252 does not.

Failures raise `SourceError("not a text file (...)")` with the measured reason.
"""

from __future__ import annotations

import unicodedata

from peerqa.ingest.loaders import SourceError, decode_text

MAX_CONTROL = 0.01  # share of control characters
MAX_REPLACEMENT = 0.01  # share of U+FFFD (bytes with no character)
MIN_LETTERS = 0.35  # share of letters among non-space characters
SAMPLE = 1 << 18  # characters looked at in each of three places (start, middle, end)
_ALLOWED_CONTROL = set("\t\n\r\f")


def _utf16_nuls(data: bytes) -> bool:
    """NULs on one parity only, as UTF-16 text without a BOM has them."""
    head = data[:SAMPLE]
    nuls = head.count(b"\x00")
    if nuls < len(head) // 4:
        return False
    even = head[0::2].count(b"\x00")
    odd = nuls - even
    return max(even, odd) >= 0.95 * nuls


def _sample(text: str) -> str:
    if len(text) <= 3 * SAMPLE:
        return text
    mid = len(text) // 2
    return text[:SAMPLE] + text[mid : mid + SAMPLE] + text[-SAMPLE:]


def text_problem(text: str) -> str:
    """Why decoded text is not text ("" when it is)."""
    sample = _sample(text)
    if not sample:
        return ""
    control = sum(1 for c in sample if (c < " " and c not in _ALLOWED_CONTROL) or "\x7f" <= c <= "\x9f")
    if control > MAX_CONTROL * len(sample):
        return f"{control / len(sample):.0%} of its characters are control codes"
    replacement = sample.count("\ufffd")
    if replacement > MAX_REPLACEMENT * len(sample):
        return f"{replacement / len(sample):.0%} of its bytes are no character in any text encoding tried"
    visible = [c for c in sample if not c.isspace()]
    if not visible:
        return ""
    letters = sum(1 for c in visible if c.isalpha() and unicodedata.category(c) != "Co")
    if letters < MIN_LETTERS * len(visible):
        return f"only {letters / len(visible):.0%} of its characters are letters"
    return ""


def decode_checked(data: bytes) -> str:
    """The file's text, or SourceError("not a text file (...)") for binary content."""
    bom = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    if b"\x00" in data[:SAMPLE] and not bom and not _utf16_nuls(data):
        raise SourceError("not a text file (it contains NUL bytes: binary data such as a program, an archive or an image)")
    try:
        text = decode_text(data)
    except UnicodeDecodeError:
        raise SourceError("not a text file (its bytes are not UTF-16, UTF-8 or Windows-1252 text)") from None
    problem = text_problem(text)
    if problem:
        raise SourceError(f"not a text file ({problem})")
    return text
