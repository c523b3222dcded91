"""How Gmail presents a stored message: raw bytes → the `payload` tree, snippet and attachments.

Gmail's ``format=full`` payload is the MIME tree with transfer encodings removed:
``partId`` is ``""`` at the root, then ``"0"``, ``"1"``, ``"1.0"``…; leaf bodies carry
``data`` (base64url) or, for parts with a filename, an ``attachmentId`` to fetch them by.
Header values are given as they appear in the message (unfolded, not RFC 2047-decoded; raw
8-bit bytes decoded).
"""

from __future__ import annotations

import base64
import email
import html
import re
from email.message import Message
from email.policy import compat32

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.S | re.I)
_SPACE = re.compile(r"\s+")
SNIPPET_LENGTH = 200


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _clean(value: str) -> str:
    """compat32 keeps a header's 8-bit bytes as surrogates; JSON needs real text. Gmail shows
    such headers decoded (UTF-8 when they are, else as Windows-1252, which Latin-1 mail reads as)."""
    raw = value.encode("utf-8", "surrogateescape")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", "replace")
    return _FOLD.sub("", text)


def _filename(part: Message) -> str:
    try:
        return _clean(part.get_filename() or "")
    except (LookupError, ValueError, TypeError):
        return ""


def _decoded(part: Message) -> bytes:
    """A leaf's content with its transfer encoding removed (b"" when there is none)."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _text_of(part: Message) -> str:
    data = _decoded(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


class MessageView:
    """A message's raw bytes, with the Gmail views derived from them.

    The snippet is computed on arrival, as Gmail indexes mail when it is delivered; the
    payload tree is derived on demand.
    """

    __slots__ = ("id", "raw", "snippet")

    def __init__(self, message_id: str, raw: bytes) -> None:
        self.id = message_id
        self.raw = raw
        self.snippet = self._make_snippet(self._parsed())

    @property
    def size(self) -> int:
        return len(self.raw)

    def raw_b64(self) -> str:
        return b64url(self.raw)

    def _parsed(self) -> Message:
        return email.message_from_bytes(self.raw, policy=compat32)

    @staticmethod
    def _body_text(message: Message) -> str:
        """The text a reader sees: the plain part, else the HTML part without its markup."""
        plain = html_text = None
        for part in message.walk():
            if part.is_multipart() or _filename(part):
                continue
            kind = part.get_content_type()
            if kind == "text/plain" and plain is None:
                plain = _text_of(part)
            elif kind == "text/html" and html_text is None:
                html_text = html.unescape(_TAGS.sub(" ", _text_of(part)))
        text = plain if plain is not None else html_text or ""
        return _SPACE.sub(" ", text.replace("\x00", "")).strip()

    @classmethod
    def _make_snippet(cls, message: Message) -> str:
        text = cls._body_text(message)[:SNIPPET_LENGTH]
        return html.escape(text, quote=True).replace("&#x27;", "&#39;")

    def body_text(self) -> str:
        """Derived on demand (search reads it), not kept: bodies can be large."""
        return self._body_text(self._parsed())

    def headers(self, names: list[str] | None = None) -> list[dict[str, str]]:
        wanted = {name.lower() for name in names} if names else None
        return [
            {"name": name, "value": _clean(value)}
            for name, value in self._parsed().raw_items()
            if wanted is None or name.lower() in wanted
        ]

    def header(self, name: str) -> str | None:
        """One header's value, as sent (None when the message has none)."""
        value = self._parsed().get(name)
        return None if value is None else str(value)

    def payload(self) -> dict[str, object]:
        return self._part(self._parsed(), "")

    def metadata_payload(self, names: list[str] | None) -> dict[str, object]:
        message = self._parsed()
        return {
            "partId": "",
            "mimeType": message.get_content_type(),
            "filename": "",
            "headers": self.headers(names),
            "body": {"size": 0},
        }

    def _part(self, part: Message, part_id: str) -> dict[str, object]:
        node: dict[str, object] = {
            "partId": part_id,
            "mimeType": part.get_content_type(),
            "filename": _filename(part),
            "headers": [{"name": name, "value": _clean(value)} for name, value in part.raw_items()],
        }
        if part.is_multipart():
            children = part.get_payload()
            assert isinstance(children, list)
            node["body"] = {"size": 0}
            node["parts"] = [
                self._part(child, f"{part_id}.{index}" if part_id else str(index))
                for index, child in enumerate(children)
            ]
            return node
        data = _decoded(part)
        if node["filename"]:
            node["body"] = {"attachmentId": self.attachment_id(part_id), "size": len(data)}
        elif data:
            node["body"] = {"size": len(data), "data": b64url(data)}
        else:
            node["body"] = {"size": 0}
        return node

    def attachment_id(self, part_id: str) -> str:
        return "ANGjdJ" + base64.urlsafe_b64encode(f"{self.id}:{part_id}".encode()).decode().rstrip("=")

    def attachment(self, attachment_id: str) -> bytes | None:
        """The decoded data of the part an attachment id names, or None."""
        for part_id, part in self._leaves(self._parsed(), ""):
            if self.attachment_id(part_id) == attachment_id and _filename(part):
                return _decoded(part)
        return None

    def _leaves(self, part: Message, part_id: str) -> list[tuple[str, Message]]:
        if not part.is_multipart():
            return [(part_id, part)]
        children = part.get_payload()
        assert isinstance(children, list)
        leaves = []
        for index, child in enumerate(children):
            leaves += self._leaves(child, f"{part_id}.{index}" if part_id else str(index))
        return leaves
