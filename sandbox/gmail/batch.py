"""Google's batch format: a multipart/mixed body of `application/http` requests, answered in kind.

google-api-python-client writes parts with bare ``\\n`` line ends and Content-IDs such
as ``<uuid + 1>``; Google answers with CRLF and ``<response-uuid + 1>``. The client
splits each answered part at its first ``\\r\\n\\r\\n``, so the CRLFs matter.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from .api import ApiCall, below
from .errors import ApiResponse, GoogleApiError

MAX_PARTS = 100
_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.I)
_BLANK = re.compile(rb"\r?\n\r?\n")


@dataclass
class BatchPart:
    content_id: str | None
    call: ApiCall


def _header_lines(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def _bad(message: str) -> GoogleApiError:
    return GoogleApiError(400, message, "badRequest")


def parse_batch(content_type: str, body: bytes, outer_headers: dict[str, str], root: str = "") -> list[BatchPart]:
    match = _BOUNDARY.search(content_type or "")
    if not content_type.lower().startswith("multipart/mixed") or not match:
        raise _bad("Invalid multipart request: expected multipart/mixed with a boundary.")
    delimiter = b"--" + (match.group(1) or match.group(2)).encode()
    parts: list[BatchPart] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
        chunk = chunk.removesuffix(b"\n").removesuffix(b"\r")
        pieces = _BLANK.split(chunk, maxsplit=1)
        if len(pieces) != 2:
            raise _bad("Invalid multipart request: a part has no body.")
        part_headers = _header_lines(pieces[0])
        http_pieces = _BLANK.split(pieces[1], maxsplit=1)
        lines = http_pieces[0].decode("utf-8", "replace").splitlines()
        if not lines:
            raise _bad("Invalid multipart request: a part has no request line.")
        request_line = lines[0].split()
        if len(request_line) < 2:
            raise _bad(f"Invalid request line in batch part: {lines[0]!r}")
        inner_headers = {**outer_headers, **_header_lines("\n".join(lines[1:]).encode())}
        url = urlsplit(request_line[1])
        path = below(root, url.path)
        call = ApiCall(request_line[0].upper(), path, parse_qsl(url.query, keep_blank_values=True), inner_headers)
        parts.append(BatchPart(part_headers.get("content-id"), call))
    if not parts:
        raise _bad("Invalid multipart request with 0 mime parts.")
    if len(parts) > MAX_PARTS:
        raise _bad(f"Too many requests in batch request: {len(parts)} > {MAX_PARTS}.")
    return parts


def _response_id(content_id: str) -> str:
    inner = content_id.strip()
    if inner.startswith("<") and inner.endswith(">"):
        inner = inner[1:-1]
    return f"<response-{inner}>"


def build_batch_response(parts: list[BatchPart], answers: list[ApiResponse]) -> tuple[str, bytes]:
    boundary = "batch_" + secrets.token_urlsafe(12)
    chunks: list[bytes] = []
    for part, answer in zip(parts, answers, strict=True):
        head = f"--{boundary}\r\nContent-Type: application/http\r\n"
        if part.content_id:
            head += f"Content-ID: {_response_id(part.content_id)}\r\n"
        head += f"\r\nHTTP/1.1 {answer.status} {answer.reason}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in answer.headers)
        head += "Vary: Origin\r\nVary: X-Origin\r\nVary: Referer\r\n\r\n"
        chunks += [head.encode(), answer.body, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/mixed; boundary={boundary}", b"".join(chunks)
