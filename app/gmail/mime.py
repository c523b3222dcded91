"""A Gmail message (`format=full`) → what Jessie stores. Never raises: what cannot be read is recorded.

Gmail hands over the MIME tree it parsed (`payload`: headers per part, leaf bodies base64url
with their transfer encoding removed, attachments by id and size, never inline), so an
attachment costs no bytes here. Real mail still lies about its charset, folds RFC 2047 words
in odd places, omits headers, carries NUL bytes (which Postgres `text` cannot hold) and
breaks its own MIME structure. Text is decoded with the declared charset, then UTF-8, then
Windows-1252, then Latin-1 (which cannot fail); the text body is the first text/plain part,
else the first text/html part turned into text; that HTML part is also kept, sanitized, to be
shown as sent; attachments (inline images included) are described, never stored.
"""

from __future__ import annotations

import base64
import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.header import decode_header
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any

from app.html_mail import content_id, sanitize

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
    body_html: str | None = None  # sanitized (app/html_mail.py); None for text-only mail
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
    """RFC 2047 words decoded (Gmail leaves them as they came), lines unfolded."""
    if value is None:
        return None
    try:
        pieces = decode_header(value)
    except (ValueError, LookupError, AssertionError):
        pieces = [(value, None)]
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


Part = dict[str, Any]  # one node of Gmail's `payload` tree (format=full)


def _header(part: Part, name: str) -> str | None:
    wanted = name.lower()
    for header in part.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == wanted:
            return str(header.get("value", ""))
    return None


def _charset(part: Part) -> str | None:
    value = _header(part, "Content-Type")
    if not value:
        return None
    holder = Message()
    holder["Content-Type"] = value
    return holder.get_content_charset()


def _data(part: Part) -> bytes:
    """A leaf's content, transfer encoding removed (Gmail sends it base64url)."""
    return decode_data(str((part.get("body") or {}).get("data") or ""))


def _leaves(part: Part) -> Iterator[Part]:
    children = part.get("parts")
    if isinstance(children, list) and children:
        for child in children:
            if isinstance(child, dict):
                yield from _leaves(child)
    else:
        yield part


def _date(payload: Part, parsed: ParsedMail) -> datetime | None:
    value = _header(payload, "Date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        parsed.problems.append("unreadable Date header")
        return None
    return moment if moment.tzinfo else None


def parse_message(message: dict[str, Any], max_body_chars: int) -> ParsedMail:
    """A `format=full` message: headers and text as Gmail parsed them, attachments described."""
    parsed = ParsedMail()
    try:
        payload: Part = message.get("payload") or {}
        parsed.subject = decode_header_value(_header(payload, "Subject"))
        parsed.sender = decode_header_value(_header(payload, "From"))
        to_and_cc = [decode_header_value(_header(payload, name)) for name in ("To", "Cc")]
        parsed.recipients = ", ".join(value for value in to_and_cc if value) or None
        parsed.date = _date(payload, parsed)
        _read_parts(payload, parsed)
    except Exception as error:  # never crash a sync on one message: keep what is known
        parsed.problems.append(f"unparseable: {type(error).__name__}: {error}"[:300])
    if len(parsed.body_text) > max_body_chars:
        parsed.body_text = parsed.body_text[:max_body_chars]
        parsed.body_truncated = True
    if parsed.body_html is not None and len(parsed.body_html) > max_body_chars:
        parsed.body_html = None  # cut HTML would be broken HTML: the text view stands alone
        parsed.body_truncated = True
    return parsed


def _is_attachment(part: Part) -> bool:
    """A named part, one sent as an attachment, or an inline image (a Content-ID) HTML shows."""
    disposition = (_header(part, "Content-Disposition") or "").split(";")[0].strip().lower()
    inline_image = bool(_header(part, "Content-ID")) and not str(part.get("mimeType") or "").startswith("text/")
    return bool(part.get("filename")) or disposition == "attachment" or inline_image


def attachment_parts(payload: Part) -> list[Part]:
    """A message's attachments in order: what `attachments` describes at sync time, and how a
    download finds the part again (Gmail's attachment ids change between requests)."""
    return [part for part in _leaves(payload) if _is_attachment(part)]


def attachment_data(part: Part) -> tuple[str | None, bytes | None]:
    """(the attachment id to fetch its data by, or the data Gmail sent inline)."""
    body = part.get("body") or {}
    if body.get("attachmentId"):
        return str(body["attachmentId"]), None
    return None, _data(part)


def decode_data(data: str) -> bytes:
    """Gmail's base64url, padding or not."""
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _read_parts(payload: Part, parsed: ParsedMail) -> None:
    plain: str | None = None
    html: str | None = None
    for part in _leaves(payload):
        content_type = str(part.get("mimeType") or "text/plain").lower()
        if _is_attachment(part):
            name = decode_header_value(part.get("filename") or None)
            size = int((part.get("body") or {}).get("size") or 0)
            described: dict[str, object] = {"filename": name or "", "mime_type": content_type, "size": size}
            cid = content_id(_header(part, "Content-ID"))
            if cid:
                described["content_id"] = cid
            parsed.attachments.append(described)
            continue
        if content_type == "text/plain" and plain is None:
            plain = decode_bytes(_data(part), _charset(part))
        elif content_type == "text/html" and html is None:
            html = decode_bytes(_data(part), _charset(part))
        elif content_type.startswith("multipart/"):
            # A multipart whose boundary never appears: keep its text rather than lose it.
            parsed.problems.append(f"{content_type} without its boundary")
            plain = plain or decode_bytes(_data(part), _charset(part))
    if plain is not None and plain.strip():
        parsed.body_text = clean(plain).strip()
    elif html is not None:
        parsed.body_text = clean(html_to_text(html))
    elif plain is not None:
        parsed.body_text = clean(plain).strip()
    if html is not None and html.strip():
        parsed.body_html = clean(sanitize(html))
