"""Web origins read strictly, and the host patterns of OAUTH_RELAY_ORIGINS.

The OAuth callback hands an authorization code to the origin named in the state, and a code
in the wrong hands is a sign-in as its owner. So an origin is parsed, never matched as text:
`scheme://host[:port]` and nothing else (no userinfo, path, query or fragment), the host a
DNS name of letters, digits and hyphens (or an IP address), https only (plain http only for
loopback in development). A pattern's `*` stands for characters of one DNS label, never a
dot, and may not stand in the last two labels: `https://jessie-*-team.vercel.app` allows
`https://jessie-pr-7-team.vercel.app`, not `https://jessie-x.evil.test/?-team.vercel.app`.
A pattern without a port allows the default port only; `:*` allows any.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<host>[A-Za-z0-9.*-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}|\*))?")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PATTERN_LABEL = re.compile(r"[a-z0-9*](?:[a-z0-9*-]{0,61}[a-z0-9*])?")
DEFAULT_PORTS = {"https": 443, "http": 80}
ANY_PORT = -1
LOOPBACK_NAMES = {"localhost"}


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int | None  # None: the scheme's default port

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}" + (f":{self.port}" if self.port is not None else "")

    @property
    def loopback(self) -> bool:
        if self.host in LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False


def _split(text: str) -> tuple[str, str, str | None] | None:
    match = _ORIGIN.fullmatch(text)
    if match is None:
        return None
    return match["scheme"], match["host"].lower(), match["port"]


def _valid_host(host: str, label: re.Pattern[str]) -> bool:
    if host.startswith("["):
        try:
            return ipaddress.ip_address(host[1:-1]).version == 6
        except ValueError:
            return False
    labels = host.split(".")
    if all(part.isdigit() for part in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return len(host) <= 253 and all(label.fullmatch(part) for part in labels)


def _port(scheme: str, text: str | None) -> int | None:
    if text is None:
        return None
    if text == "*":
        return ANY_PORT
    number = int(text)
    if not 0 < number < 65536:
        raise ValueError(f"port {number} is out of range")
    return None if number == DEFAULT_PORTS[scheme] else number


def parse_origin(text: str, *, development: bool = False) -> Origin | None:
    """The origin `text` names exactly, or None: anything more, less or odd is refused."""
    parts = _split(text)
    if parts is None:
        return None
    scheme, host, port_text = parts
    if "*" in host or port_text == "*" or not _valid_host(host, _LABEL):
        return None
    try:
        origin = Origin(scheme, host, _port(scheme, port_text))
    except ValueError:
        return None
    if scheme == "http" and not (development and origin.loopback):
        return None
    return origin


@dataclass(frozen=True)
class OriginPattern:
    scheme: str
    host: re.Pattern[str]
    port: int | None  # None: the default port only; ANY_PORT: any
    text: str

    @classmethod
    def parse(cls, text: str) -> OriginPattern:
        """A pattern of OAUTH_RELAY_ORIGINS; ValueError says what is wrong with it."""
        parts = _split(text)
        if parts is None:
            raise ValueError(f"{text!r} is not scheme://host[:port] (no path, query or user)")
        scheme, host, port_text = parts
        if not _valid_host(host, _PATTERN_LABEL):
            raise ValueError(f"{text!r}: the host is not a DNS name")
        labels = host.split(".")
        if any("*" in label for label in labels[-2:]):
            raise ValueError(f"{text!r}: '*' may not stand in the domain's last two labels")
        if scheme == "http" and not Origin("http", host, None).loopback:
            raise ValueError(f"{text!r}: plain http is allowed only for loopback hosts")
        one_label = "[a-z0-9-]*"
        regex = r"\.".join(one_label.join(map(re.escape, label.split("*"))) for label in labels)
        return cls(scheme, re.compile(regex), _port(scheme, port_text), text)

    def matches(self, origin: Origin) -> bool:
        if origin.scheme != self.scheme or self.host.fullmatch(origin.host) is None:
            return False
        return self.port == ANY_PORT or self.port == origin.port


def parse_patterns(text: str) -> list[OriginPattern]:
    return [OriginPattern.parse(part.strip()) for part in text.split(",") if part.strip()]


def relay_target(text: str, patterns: list[OriginPattern], *, development: bool) -> Origin | None:
    """The origin to hand a code back to, if `text` names one exactly and a pattern allows it."""
    origin = parse_origin(text, development=development)
    if origin is None or not any(pattern.matches(origin) for pattern in patterns):
        return None
    return origin
