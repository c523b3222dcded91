"""MIME parsing never crashes and keeps what real mail carries, as Gmail hands it over (format=full)."""

from __future__ import annotations

from typing import Any

import pytest

from app.gmail.mime import ParsedMail, decode_bytes, decode_header_value, html_to_text, parse_message
from sandbox.gmail.generator import KINDS, MessageFactory
from sandbox.gmail.mime_view import MessageView


def as_gmail_sends(raw: bytes) -> dict[str, Any]:
    """The `format=full` message Gmail (here: its stand-in) makes of these bytes."""
    return {"id": "0" * 16, "payload": MessageView("0" * 16, raw).payload()}


def parse_mail(raw: bytes, max_body_chars: int) -> ParsedMail:
    return parse_message(as_gmail_sends(raw), max_body_chars)


def test_every_generated_kind_parses_without_raising() -> None:
    for message in MessageFactory("me@example.com", seed=5).history(200):
        parsed = parse_mail(message.raw, 10_000)
        assert "\x00" not in parsed.body_text + (parsed.subject or "") + (parsed.sender or "")
        assert len(parsed.body_text) <= 10_000


@pytest.mark.parametrize(
    ("raw", "subject"),
    [
        (b"Subject: =?utf-8?B?w5xiZXI=?= alles\r\n\r\n", "Über alles"),
        (b"Subject: =?iso-8859-1?Q?caf=E9?=\r\n\r\n", "café"),
        (b"Subject: =?shift_jis?B?ie+LYw==?=\r\n\r\n", "会議"),
        (b"Subject: =?x-unknown?Q?caf=C3=A9?=\r\n\r\n", "café"),  # unknown charset: UTF-8 fallback
        ("Subject: plain Ünïcode 8-bit\r\n\r\n".encode(), "plain Ünïcode 8-bit"),
        ("Subject: raw 日本 =?utf-8?Q?and_encoded?=\r\n\r\n".encode(), "raw 日本 and encoded"),
        (b"Subject: latin1 \xe9t\xe9\r\n\r\n", "latin1 été"),
        (b"Subject: folded\r\n over lines\r\n\r\n", "folded over lines"),
    ],
)
def test_subjects(raw: bytes, subject: str) -> None:
    assert parse_mail(raw, 1000).subject == subject


def test_charset_fallbacks() -> None:
    assert decode_bytes("Déjà".encode("latin-1"), "utf-8") == "Déjà"
    assert decode_bytes("“€”".encode("cp1252"), "no-such-charset") == "“€”"
    assert decode_bytes(b"\x81\x8d\x8f", None) == "\x81\x8d\x8f"  # undefined in cp1252: latin-1 catches it
    assert decode_header_value(None) is None


def test_html_only_mail_becomes_text() -> None:
    html = "<html><head><style>p{}</style><script>x()</script></head><body><p>Hello &amp; <b>bye</b></p></body></html>"
    assert html_to_text(html) == "Hello &\nbye"
    raw = b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html.encode()
    assert parse_mail(raw, 1000).body_text == "Hello &\nbye"


def test_plain_is_preferred_and_attachments_are_described() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: multipart/alternative; '
        b'boundary="a"\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nplain body\r\n'
        b"--a\r\nContent-Type: text/html\r\n\r\n"
        b"<p>html body</p>\r\n--a--\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        b'filename="r.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n'
    )
    parsed = parse_mail(raw, 1000)
    assert parsed.body_text == "plain body"
    assert parsed.body_html == "<p>html body</p>"  # kept, sanitized, to be shown as sent
    assert parsed.attachments == [{"filename": "r.pdf", "mime_type": "application/pdf", "size": 5}]


def test_html_is_kept_sanitized_with_its_inline_images_described() -> None:
    raw = (
        b'Content-Type: multipart/related; boundary="r"\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n'
        b'<h2 onclick="x()">Hi</h2><img src="cid:logo@x"><script>x()</script>\r\n'
        b"--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"iVBORw0KGgo=\r\n--r--\r\n"
    )
    parsed = parse_mail(raw, 1000)
    assert parsed.body_html == '<h2>Hi</h2><img src="cid:logo@x">'
    assert parsed.attachments == [{"filename": "", "mime_type": "image/png", "size": 8, "content_id": "logo@x"}]
    assert parsed.body_text == "Hi"
    too_long = parse_mail(b"Content-Type: text/html\r\n\r\n<p>" + b"x" * 2000 + b"</p>", 1000)
    assert (too_long.body_html, too_long.body_truncated) == (None, True)  # no cut HTML: the text stands


def test_bodies_are_capped_and_flagged() -> None:
    parsed = parse_mail(b"Content-Type: text/plain\r\n\r\n" + b"x" * 5000, 1000)
    assert (len(parsed.body_text), parsed.body_truncated) == (1000, True)


def test_what_cannot_be_parsed_is_kept_with_the_reason() -> None:
    broken = parse_mail(b'Content-Type: multipart/mixed; boundary="nope"\r\nSubject: s\r\n\r\nsome text\r\n', 1000)
    assert broken.subject == "s"
    assert "some text" in broken.body_text
    assert "boundary" in (broken.parse_error or "")
    assert parse_mail(b"", 1000).parse_error is None
    assert parse_mail(b"Date: yesterday-ish\r\n\r\nx", 1000).parse_error == "unreadable Date header"


def test_the_generator_covers_every_kind_the_parser_must_survive() -> None:
    kinds = {m.kind for m in MessageFactory("me@example.com", seed=1).history(len(KINDS))}
    assert kinds == set(KINDS)
