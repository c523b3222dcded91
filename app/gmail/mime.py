"""Raw RFC 5322 bytes → what Jessie stores. Never raises: what cannot be read is recorded.

Real mail lies about its charset, folds RFC 2047 words in odd places, omits headers,
carries NUL bytes (which Postgres `text` cannot hold) and breaks its own MIME structure.
Text is decoded with the declared charset, then UTF-8, then Windows-1252, then Latin-1
(which cannot fail); the body is the first text/plain part, else the first text/html
part turned into text; attachments are described, never stored.
"""

from __future__ import annotations

import codecs
import email
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.header import decode_header
from email.message import Message
from email.policy import compat32
from email.utils import parsedate_to_datetime

_SPACE_RUNS = re.compile(r"[ \t]*\r?\n[ \t]*")
_BLANK_LINES = re.compile(r"\n{3,}")
FALLBACK_CHARSETS = ("utf-8", "cp1252", "latin-1")


@dataclass
class ParsedMail:
    subject: str | None = None
    sender: str | None = None
    recipients: str | None = None
    date: datetime | None = None
    body_text: str = ""
    body_truncated: bool = False
    attachments: list[dict[str, object]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def parse_error(self) -> str | None:
        return "; ".join(self.problems) or None


def clean(text: str) -> str:
    """Postgres text cannot hold NUL; nothing else is altered."""
    return text.replace("\x00", "")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """The declared charset if it is real and fits, else the fallbacks in order."""
    candidates = [charset.strip().strip('"').lower()] if charset else []
    for name in [*candidates, *FALLBACK_CHARSETS]:
        try:
            codecs.lookup(name)
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")  # unreachable: latin-1 decodes any bytes


def decode_header_value(value: str | None) -> str | None:
    """RFC 2047 words decoded, raw 8-bit bytes decoded by the fallbacks, lines unfolded."""
    if value is None:
        return None
    raw = value.encode("utf-8", "surrogateescape")  # compat32 keeps undecodable bytes as surrogates
    text = decode_bytes(raw, "utf-8")
    try:
        pieces = decode_header(text)
    except (ValueError, LookupError, AssertionError):
        pieces = [(text, None)]
    decoded = []
    for piece, charset in pieces:
        if not isinstance(piece, bytes):
            decoded.append(piece)
        elif charset is None:  # plain text between encoded words, which decode_header escaped
            decoded.append(piece.decode("raw-unicode-escape"))
        else:
            decoded.append(decode_bytes(piece, charset))
    joined = "".join(decoded)
    return clean(_SPACE_RUNS.sub(" ", joined)).strip()


def html_to_text(html: str) -> str:
    from bs4 import BeautifulSoup  # only for HTML-only mail: an idle account's sync never loads it

    soup = BeautifulSoup(html, "html.parser")
    for hidden in soup(["script", "style", "head", "title"]):
        hidden.decompose()
    text = soup.get_text("\n")
    lines = (line.strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _payload_bytes(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _attachment_size(part: Message) -> int:
    """The decoded size, counted from base64 text without decoding it: an attachment is
    described, never stored, and decoding a 25 MB one only to measure it doubles its memory."""
    raw = part.get_payload()
    if isinstance(raw, str) and (_header(part, "Content-Transfer-Encoding") or "").strip().lower() == "base64":
        digits = len(raw) - sum(raw.count(space) for space in " \t\r\n")
        return max(0, digits * 3 // 4 - raw.rstrip().count("=", -2))
    return len(_payload_bytes(part))


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except (LookupError, ValueError, TypeError):
        return "(unreadable name)"
    return decode_header_value(name) if name else None


def _header(message: Message, name: str) -> str | None:
    """The header's stored text: compat32's `get` turns 8-bit values into Header objects."""
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() == wanted:
            return str(value)
    return None


def _date(message: Message, parsed: ParsedMail) -> datetime | None:
    value = _header(message, "Date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        parsed.problems.append("unreadable Date header")
        return None
    return moment if moment.tzinfo else None


def parse_mail(raw: bytes, max_body_chars: int) -> ParsedMail:
    parsed = ParsedMail()
    try:
        message = email.message_from_bytes(raw, policy=compat32)
        parsed.subject = decode_header_value(_header(message, "Subject"))
        parsed.sender = decode_header_value(_header(message, "From"))
        to_and_cc = [decode_header_value(_header(message, name)) for name in ("To", "Cc")]
        parsed.recipients = ", ".join(value for value in to_and_cc if value) or None
        parsed.date = _date(message, parsed)
        _read_parts(message, parsed)
    except Exception as error:  # never crash a sync on one message: keep what is known
        parsed.problems.append(f"unparseable: {type(error).__name__}: {error}"[:300])
    if len(parsed.body_text) > max_body_chars:
        parsed.body_text = parsed.body_text[:max_body_chars]
        parsed.body_truncated = True
    return parsed


def _read_parts(message: Message, parsed: ParsedMail) -> None:
    plain: str | None = None
    html: str | None = None
    for part in message.walk():
        if part.is_multipart():
            continue
        name = _filename(part)
        disposition = (_header(part, "Content-Disposition") or "").split(";")[0].strip().lower()
        content_type = part.get_content_type()
        if name or disposition == "attachment":
            parsed.attachments.append(
                {"filename": name or "", "mime_type": content_type, "size": _attachment_size(part)}
            )
            continue
        if content_type == "text/plain" and plain is None:
            plain = decode_bytes(_payload_bytes(part), part.get_content_charset())
        elif content_type == "text/html" and html is None:
            html = decode_bytes(_payload_bytes(part), part.get_content_charset())
        elif content_type.startswith("multipart/"):
            # A multipart whose boundary never appears: keep its text rather than lose it.
            parsed.problems.append(f"{content_type} without its boundary")
            plain = plain or decode_bytes(_payload_bytes(part), part.get_content_charset())
    if plain is not None and plain.strip():
        parsed.body_text = clean(plain).strip()
    elif html is not None:
        parsed.body_text = clean(html_to_text(html))
    elif plain is not None:
        parsed.body_text = clean(plain).strip()
