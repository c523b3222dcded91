"""HTML mail as it was sent, made safe to show: sanitized once at sync time (nh3, Rust's
ammonia: an allow-list of tags, attributes, URL schemes and CSS properties; no script, no
forms, no frames, no event handlers), and served to a sandboxed frame whose Content Security
Policy runs nothing and loads nothing from elsewhere until the reader asks for images.

Inline images (`cid:`) point at the message's own attachments, which Jessie fetches from
Gmail when the frame asks for them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

TAGS = {
    "a", "abbr", "address", "b", "bdi", "bdo", "blockquote", "br", "caption", "center", "cite", "code", "col",
    "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "font", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small",
    "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "tt", "u", "ul",
}  # fmt: skip
PRESENTATION = {"style", "align", "valign", "dir", "width", "height", "bgcolor", "color", "border", "title", "lang"}
ATTRIBUTES = {
    "*": PRESENTATION,
    "a": {"href"},
    "img": {"src", "alt"},
    "font": {"face", "size"},
    "table": {"cellpadding", "cellspacing"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start", "type"},
}
URL_SCHEMES = {"http", "https", "mailto", "cid"}
# Layout and type only: nothing here can fetch (url() values are kept out by the frame's CSP too).
CSS = {
    "background-color", "border", "border-bottom", "border-collapse", "border-color", "border-left",
    "border-radius", "border-right", "border-spacing", "border-style", "border-top", "border-width", "color",
    "display", "font", "font-family", "font-size", "font-style", "font-weight", "height", "letter-spacing",
    "line-height", "list-style-type", "margin", "margin-bottom", "margin-left", "margin-right", "margin-top",
    "max-width", "min-width", "padding", "padding-bottom", "padding-left", "padding-right", "padding-top",
    "text-align", "text-decoration", "text-indent", "text-transform", "vertical-align", "white-space", "width",
    "word-break",
}  # fmt: skip
INLINE_IMAGE = re.compile(r'(<img\b[^>]*?\bsrc=")cid:([^"]+)"')
REMOTE_IMAGE = re.compile(r'<img\b[^>]*?\bsrc="https?:', re.IGNORECASE)

# What the frame's document may do: show its own markup and inline styles, images from Jessie
# (inline attachments) and data: URLs; with consent, images from anywhere. Nothing else.
FRAME_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src {images}; "
    "frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)


def sanitize(html: str) -> str:
    """The mail's HTML with everything that could run, submit, frame or track on open removed
    but for remote images, which the frame's policy holds back until asked; links open apart."""
    import nh3  # only for HTML mail: an idle account's sync never loads it

    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        filter_style_properties=CSS,
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )


def frame_policy(images: bool) -> str:
    return FRAME_POLICY.format(images="'self' data: https: http:" if images else "'self' data:")


def content_id(value: str | None) -> str | None:
    """A Content-ID header as `cid:` URLs name it: without its angle brackets."""
    return value.strip().strip("<>").strip() or None if value else None


def with_inline_images(html: str, attachment_url: str, attachments: Sequence[dict[str, Any]]) -> str:
    """`cid:` images pointed at the attachments they name (`attachment_url` + the number)."""
    numbers = {a.get("content_id"): n for n, a in enumerate(attachments) if a.get("content_id")}

    def point(found: re.Match[str]) -> str:
        number = numbers.get(found[2])
        return f'{found[1]}{attachment_url}{number}"' if number is not None else f'{found[1]}"'

    return INLINE_IMAGE.sub(point, html)


def inline_numbers(html: str, attachments: Sequence[dict[str, Any]]) -> set[int]:
    """Which attachments the HTML shows in place (not listed again as downloads)."""
    named = {found[2] for found in INLINE_IMAGE.finditer(html)}
    return {n for n, a in enumerate(attachments) if a.get("content_id") in named}


def has_remote_images(html: str) -> bool:
    return REMOTE_IMAGE.search(html) is not None
