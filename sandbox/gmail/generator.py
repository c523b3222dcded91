"""A deterministic mailbox generator: the same seed gives byte-identical mail.

The mail is as nasty as the real thing, because the sync must survive the real thing:
HTML-only and multipart/alternative bodies, attachments and inline images, RFC 2047
headers, legacy charsets (and one that lies about its charset), missing headers, NUL
bytes, 1,000-character subjects, bodies over 1 MB, threads, spam and trash.

Messages are written as raw RFC 5322 bytes with templates rather than built with the
``email`` package, because several kinds are deliberately malformed and the package
would "fix" them.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime

# 2026-01-01T00:00:00Z: generated history ends here, so fixtures do not depend on "now".
BASE_EPOCH_MS = 1_767_225_600_000

USER_LABELS = ["Receipts", "Travel", "Work/Projects", "Family", "Newsletters"]

WORDS = (
    "invoice meeting project update quarterly review budget travel itinerary flight hotel "
    "receipt order shipped delivery tracking password reset welcome newsletter offer team "
    "schedule agenda notes draft final approved pending urgent follow-up reminder coffee "
    "lunch report numbers forecast launch release bug fix deploy preview production sync"
).split()

SENDERS = [
    ("Ada Lovelace", "ada@example.org"),
    ("Grace Hopper", "grace@navy.example"),
    ("Zoë Ünal", "zoe@example.de"),
    ("山田 太郎", "taro@example.jp"),
    ("Acme Billing", "billing@acme.example"),
    ("Noreply", "no-reply@notifications.example"),
    ("José Ñúñez", "jose@example.es"),
]

TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@dataclass
class GeneratedMessage:
    raw: bytes
    label_ids: list[str]
    internal_date: int
    kind: str
    reply_to_index: int | None = None  # index of an earlier message in the same thread


@dataclass
class _Context:
    rng: random.Random
    owner: str
    index: int
    date_ms: int
    message_id: str
    reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    attachment_bytes: int = 0  # a fixed attachment size instead of a small random one


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def _paragraphs(rng: random.Random, count: int) -> str:
    return "\r\n\r\n".join(_words(rng, rng.randint(20, 60)).capitalize() + "." for _ in range(count))


def _encoded_word(text: str, charset: str = "utf-8") -> str:
    return Header(text, charset).encode()


def _address(name: str, email: str) -> str:
    if name.isascii():
        return f'"{name}" <{email}>'
    return f"{_encoded_word(name)} <{email}>"


def _headers(ctx: _Context, subject: str | None, sender: str | None = "default", extra: str = "") -> str:
    rng = ctx.rng
    lines = []
    if sender == "default":
        name, email = rng.choice(SENDERS)
        sender = _address(name, email)
    if sender is not None:
        lines.append(f"From: {sender}")
    lines.append(f"To: {ctx.owner}")
    if subject is not None:
        lines.append(f"Subject: {subject}")
    moment = datetime.fromtimestamp(ctx.date_ms / 1000, UTC)
    lines.append(f"Date: {format_datetime(moment)}")
    lines.append(f"Message-ID: {ctx.message_id}")
    if ctx.reply_to:
        lines.append(f"In-Reply-To: {ctx.reply_to}")
        lines.append("References: " + " ".join(ctx.references))
    lines.append("MIME-Version: 1.0")
    if extra:
        lines.append(extra)
    return "\r\n".join(lines) + "\r\n"


def _subject(ctx: _Context) -> str:
    text = _words(ctx.rng, ctx.rng.randint(2, 7)).capitalize()
    return f"Re: {text}" if ctx.reply_to else text


def _b64_lines(data: bytes) -> str:
    encoded = base64.b64encode(data).decode()
    return "\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


# Each kind returns the raw message bytes.


def _plain(ctx: _Context) -> bytes:
    head = _headers(ctx, _subject(ctx), extra='Content-Type: text/plain; charset="us-ascii"')
    return (head + "\r\n" + _paragraphs(ctx.rng, ctx.rng.randint(1, 4)) + "\r\n").encode()


def _html_only(ctx: _Context) -> bytes:
    rng = ctx.rng
    body = (
        "<html><head><style>p{color:red}</style><script>var x = 1;</script></head><body>"
        f"<h1>{_words(rng, 3)}</h1><p>{_words(rng, 30)}</p><ul><li>{_words(rng, 4)}</li>"
        f"<li>{_words(rng, 4)} &amp; more</li></ul><p>Caf&eacute; &lt;ok&gt;<br>{_words(rng, 10)}</p>"
        "</body></html>"
    )
    qp = body.replace("=", "=3D")
    head = _headers(
        ctx,
        _subject(ctx),
        extra='Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable',
    )
    return (head + "\r\n" + qp + "\r\n").encode()


def _alternative(ctx: _Context) -> bytes:
    rng = ctx.rng
    boundary = f"alt-{ctx.index:06d}"
    text = _paragraphs(rng, rng.randint(1, 3))
    html = "<html><body>" + "".join(f"<p>{p}</p>" for p in text.split("\r\n\r\n")) + "</body></html>"
    head = _headers(ctx, _subject(ctx), extra=f'Content-Type: multipart/alternative; boundary="{boundary}"')
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
        f"--{boundary}--\r\n"
    )
    return (head + "\r\n" + body).encode()


def _attachment(ctx: _Context) -> bytes:
    rng = ctx.rng
    boundary = f"mixed-{ctx.index:06d}"
    if ctx.attachment_bytes:  # asked for: quick to make, even at tens of MB
        data = rng.randbytes(ctx.attachment_bytes)
    else:
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(2000, 8000)))
    pdf = b"%PDF-1.4\n" + data + b"\n%%EOF\n"
    name = rng.choice(["invoice.pdf", "report Q3.pdf", "Übersicht.pdf"])
    filename = f'filename="{name}"' if name.isascii() else f"filename*=utf-8''{_percent(name)}"
    head = _headers(ctx, _subject(ctx), extra=f'Content-Type: multipart/mixed; boundary="{boundary}"')
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{_paragraphs(rng, 1)}\r\n"
        f"--{boundary}\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; {filename}\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{_b64_lines(pdf)}\r\n--{boundary}--\r\n"
    )
    return (head + "\r\n" + body).encode()


def _percent(text: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def _inline_image(ctx: _Context) -> bytes:
    rng = ctx.rng
    boundary = f"rel-{ctx.index:06d}"
    html = f'<html><body><p>{_words(rng, 20)}</p><img src="cid:logo-{ctx.index}"></body></html>'
    head = _headers(ctx, _subject(ctx), extra=f'Content-Type: multipart/related; boundary="{boundary}"')
    body = (
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
        f'--{boundary}\r\nContent-Type: image/png; name="logo.png"\r\nContent-ID: <logo-{ctx.index}>\r\n'
        f'Content-Disposition: inline; filename="logo.png"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        f"{_b64_lines(TINY_PNG)}\r\n--{boundary}--\r\n"
    )
    return (head + "\r\n" + body).encode()


def _rfc2047(ctx: _Context) -> bytes:
    subject = _encoded_word("Grüße aus Köln — " + _words(ctx.rng, 3)) + " " + _encoded_word("¡Olé!", "iso-8859-1")
    sender = _address("Zoë Ünal", "zoe@example.de")
    head = _headers(
        ctx, subject, sender, extra="Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit"
    )
    return head.encode() + b"\r\n" + "Schöne Grüße, bis bald. Ça va? ✓\r\n".encode()


def _latin1(ctx: _Context) -> bytes:
    head = _headers(
        ctx,
        "Caf=?iso-8859-1?Q?=E9?= cr=?iso-8859-1?Q?=E8me?=",
        extra="Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit",
    )
    return (
        head.encode()
        + b"\r\n"
        + "Le café crème coûte 3 €uros? Non: 3 francs, déjà payé.\r\n".replace("€", "E").encode("iso-8859-1")
    )


def _cp1252(ctx: _Context) -> bytes:
    head = _headers(
        ctx, "Smart quotes", extra="Content-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: 8bit"
    )
    return (
        head.encode() + b"\r\n" + "\u201cQuoted\u201d \u2014 costs \u20ac5 \u2026 that\u2019s all.\r\n".encode("cp1252")
    )


def _shift_jis(ctx: _Context) -> bytes:
    subject = _encoded_word("会議の議事録", "shift_jis")
    head = _headers(
        ctx, subject, extra="Content-Type: text/plain; charset=shift_jis\r\nContent-Transfer-Encoding: 8bit"
    )
    return head.encode() + b"\r\n" + "お世話になっております。明日の会議の件です。\r\n".encode("shift_jis")


def _mislabelled(ctx: _Context) -> bytes:
    """Says utf-8, is latin-1; the second part names a charset that does not exist."""
    boundary = f"mis-{ctx.index:06d}"
    head = _headers(ctx, "Mislabelled charset", extra=f'Content-Type: multipart/mixed; boundary="{boundary}"')
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n".encode()
        + "Déjà vu: naïve façade.\r\n".encode("latin-1")
        + f"--{boundary}\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n".encode()
        + "Ünknown charset bytes.\r\n".encode("latin-1")
        + f"--{boundary}--\r\n".encode()
    )
    return head.encode() + b"\r\n" + body


def _missing_headers(ctx: _Context) -> bytes:
    lines = [f"To: {ctx.owner}", f"Message-ID: {ctx.message_id}", "Content-Type: text/plain"]
    return ("\r\n".join(lines) + "\r\n\r\n" + _words(ctx.rng, 12) + "\r\n").encode()


def _nul_bytes(ctx: _Context) -> bytes:
    head = _headers(ctx, "Nul\x00in subject", extra="Content-Type: text/plain; charset=utf-8")
    return head.encode() + b"\r\nBefore\x00after\x00\x00 and the end.\r\n"


def _long_subject(ctx: _Context) -> bytes:
    subject = ("Very long subject " + _words(ctx.rng, 200))[:1000].rstrip()
    subject += "x" * (1000 - len(subject))
    head = _headers(ctx, _fold(subject), extra="Content-Type: text/plain")
    return (head + "\r\n" + _words(ctx.rng, 20) + "\r\n").encode()


def _fold(value: str, width: int = 70) -> str:
    """RFC 5322 folding: a CRLF before existing whitespace, so unfolding restores the value."""
    lines, line = [], ""
    for word in value.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\r\n ".join([*lines, line])


def _huge_body(ctx: _Context) -> bytes:
    line = (_words(ctx.rng, 12) + "\r\n").encode()
    repeats = (1_100_000 // len(line)) + 1
    head = _headers(ctx, "Huge body", extra="Content-Type: text/plain; charset=utf-8")
    return head.encode() + b"\r\n" + line * repeats


def _broken_mime(ctx: _Context) -> bytes:
    """A multipart whose boundary never appears and a base64 part that is not base64."""
    head = _headers(ctx, "Broken MIME", extra='Content-Type: multipart/mixed; boundary="never-used"')
    body = "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n"
    return (head + "\r\n" + body).encode()


def _bad_date(ctx: _Context) -> bytes:
    head = _headers(ctx, "Bad date", extra="Content-Type: text/plain").replace(
        "Date: ", "Date: not a date at all; was "
    )
    return (head + "\r\n" + _words(ctx.rng, 8) + "\r\n").encode()


def _empty(ctx: _Context) -> bytes:
    return _headers(ctx, "", extra="Content-Type: text/plain").encode() + b"\r\n"


Kind = Callable[[_Context], bytes]

# Every nasty kind appears once, in this order, at the start of every mailbox that is big
# enough; after that, kinds are drawn with these weights (huge bodies stay rare).
KINDS: dict[str, tuple[Kind, float]] = {
    "plain": (_plain, 30),
    "alternative": (_alternative, 30),
    "html_only": (_html_only, 10),
    "attachment": (_attachment, 6),
    "inline_image": (_inline_image, 3),
    "rfc2047": (_rfc2047, 3),
    "latin1": (_latin1, 2),
    "cp1252": (_cp1252, 2),
    "shift_jis": (_shift_jis, 2),
    "mislabelled": (_mislabelled, 1),
    "missing_headers": (_missing_headers, 1),
    "nul_bytes": (_nul_bytes, 1),
    "long_subject": (_long_subject, 1),
    "broken_mime": (_broken_mime, 1),
    "bad_date": (_bad_date, 1),
    "empty": (_empty, 1),
    "huge_body": (_huge_body, 0.02),
}
_NAMES = list(KINDS)
_WEIGHTS = [weight for _, weight in KINDS.values()]


class MessageFactory:
    """Produces one mailbox's messages in order; the sequence depends only on the seed."""

    def __init__(self, owner: str, seed: int, reply_rate: float | None = None) -> None:
        self.owner = owner
        self.reply_rate = reply_rate
        self.rng = random.Random(f"{seed}:{owner}")
        self.count = 0
        self._message_ids: list[str] = []
        self._references: list[list[str]] = []
        self.user_label_ids = [f"Label_{i + 1}" for i in range(len(USER_LABELS))]

    def history(self, count: int) -> list[GeneratedMessage]:
        """`count` messages dated before BASE_EPOCH_MS, oldest first."""
        dates = []
        moment = BASE_EPOCH_MS
        for _ in range(count):
            moment -= self.rng.randint(60_000, 6 * 3_600_000)
            dates.append(moment)
        kinds = [_NAMES[i] for i in range(min(count, len(_NAMES)))]
        kinds += self.rng.choices(_NAMES, _WEIGHTS, k=count - len(kinds))
        # The nasty corpus is the newest mail, so it is synced first and seen by everyone.
        return [self.make(date, kind) for date, kind in zip(reversed(dates), reversed(kinds), strict=True)]

    def make(self, date_ms: int, kind: str | None = None, attachment_bytes: int = 0) -> GeneratedMessage:
        """The next message; with `attachment_bytes`, one carrying an attachment that big."""
        rng = self.rng
        kind = "attachment" if attachment_bytes else kind or rng.choices(_NAMES, _WEIGHTS)[0]
        index = self.count
        self.count += 1
        message_id = f"<{rng.getrandbits(64):016x}.{index}@mail.example>"
        ctx = _Context(rng, self.owner, index, date_ms, message_id, attachment_bytes=attachment_bytes)
        reply_index = self._reply_to(kind, index)
        if reply_index is not None:
            ctx.reply_to = self._message_ids[reply_index]
            ctx.references = [*self._references[reply_index], ctx.reply_to]
        self._message_ids.append(message_id)
        self._references.append(ctx.references)
        raw = KINDS[kind][0](ctx)
        return GeneratedMessage(raw, self._labels(), date_ms, kind, reply_index)

    def _reply_to(self, kind: str, index: int) -> int | None:
        """The earlier message this one answers, if any.

        By default, some plain mail answers one of the 20 before it (about 1.25 messages a
        thread). With `reply_rate`, that share of readable mail answers, mostly one of the last
        10 (a conversation going on), else one of the last 50: about 1.7 messages a thread at
        0.6, two in five in threads of three or more, the longest over a dozen.
        """
        rng = self.rng
        if self.reply_rate is None:
            if self._message_ids and kind in ("plain", "alternative") and rng.random() < 0.3:
                return rng.randrange(max(0, index - 20), index)
            return None
        if self._message_ids and kind in ("plain", "alternative", "html_only") and rng.random() < self.reply_rate:
            window = 10 if rng.random() < 0.7 else 50
            return rng.randrange(max(0, index - window), index)
        return None

    def _labels(self) -> list[str]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            return ["SPAM"]
        if roll < 0.06:
            return ["TRASH"]
        if roll < 0.12:
            return ["SENT"]
        labels = ["INBOX"]
        if rng.random() < 0.4:
            labels.append("UNREAD")
        if rng.random() < 0.1:
            labels.append("STARRED")
        if rng.random() < 0.2:
            labels.append("IMPORTANT")
        labels.append(rng.choice(["CATEGORY_PERSONAL", "CATEGORY_UPDATES", "CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL"]))
        if rng.random() < 0.25:
            labels.append(rng.choice(self.user_label_ids))
        return labels
