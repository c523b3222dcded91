"""OAUTH_RELAY_ORIGINS: the relay hands a code only to the exact origins its patterns describe."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.origins import OriginPattern, parse_origin, parse_patterns, relay_target

TEAM = parse_patterns("https://jessie-*-yourteam.vercel.app")


@pytest.mark.parametrize(
    "target",
    [
        "https://jessie-git-feature-yourteam.vercel.app",
        "https://jessie-pr-7-yourteam.vercel.app",
        "https://jessie--yourteam.vercel.app",  # '*' may stand for nothing
        "https://JESSIE-abc-yourteam.vercel.app",  # hosts are case-insensitive
        "https://jessie-abc-yourteam.vercel.app:443",  # the default port, explicit
    ],
)
def test_the_hosts_a_pattern_describes_are_allowed(target: str) -> None:
    allowed = relay_target(target, TEAM, development=False)
    assert allowed is not None
    assert str(allowed) == target.lower().removesuffix(":443")


@pytest.mark.parametrize(
    "target",
    [
        # The attack: '*' reached across the host into a path, a query, userinfo or a fragment.
        "https://jessie-x.attacker.test/?-yourteam.vercel.app",
        "https://jessie-x.attacker.test?-yourteam.vercel.app",
        "https://jessie-x.attacker.test/-yourteam.vercel.app",
        "https://jessie-x.attacker.test#-yourteam.vercel.app",
        "https://jessie-x@attacker.test/-yourteam.vercel.app",
        "https://jessie-x:pw@attacker.test#-yourteam.vercel.app",
        "https://jessie-a-yourteam.vercel.app@attacker.test",
        # '*' never stands for a dot.
        "https://jessie-x.attacker.test-yourteam.vercel.app",
        "https://jessie-a.b-yourteam.vercel.app",
        # Near misses of the host.
        "https://jessie-x-yourteam.vercel.app.attacker.test",
        "https://jessie-x-yourteam.vercel.app.",
        "https://xjessie-x-yourteam.vercel.app",
        "https://jessie-x-yourteamvercel.app",
        "https://jessie-x-yourteam.vercel.apps",
        "https://jessie-x_y-yourteam.vercel.app",
        "https://jessie-%41-yourteam.vercel.app",
        "https://jessie-\u0430-yourteam.vercel.app",  # a Cyrillic a
        "https://jessie- -yourteam.vercel.app",
        "https://jessie-x-yourteam.vercel.app\\@attacker.test",
        # Scheme, port, and anything after the origin.
        "http://jessie-x-yourteam.vercel.app",
        "javascript://jessie-x-yourteam.vercel.app",
        "//jessie-x-yourteam.vercel.app",
        "https://jessie-x-yourteam.vercel.app:8443",
        "https://jessie-x-yourteam.vercel.app:0",
        "https://jessie-x-yourteam.vercel.app:99999",
        "https://jessie-x-yourteam.vercel.app:",
        "https://jessie-x-yourteam.vercel.app/",
        "https://jessie-x-yourteam.vercel.app/auth",
        "https://jessie-x-yourteam.vercel.app?x=1",
        "https://jessie-x-yourteam.vercel.app#x",
        " https://jessie-x-yourteam.vercel.app",
        "https://jessie-x-yourteam.vercel.app\n",
        "",
    ],
)
def test_everything_else_is_refused(target: str) -> None:
    assert relay_target(target, TEAM, development=False) is None


def test_ports_are_the_default_unless_the_pattern_names_one() -> None:
    local = parse_patterns("https://127.0.0.1:*, https://preview.example.com:8443")
    assert str(relay_target("https://127.0.0.1:49152", local, development=False)) == "https://127.0.0.1:49152"
    assert relay_target("https://127.0.0.2:49152", local, development=False) is None
    assert relay_target("https://preview.example.com:8443", local, development=False) is not None
    assert relay_target("https://preview.example.com", local, development=False) is None


def test_plain_http_only_for_loopback_in_development() -> None:
    local = parse_patterns("http://localhost:*")
    assert relay_target("http://localhost:3001", local, development=True) is not None
    assert relay_target("http://localhost:3001", local, development=False) is None
    assert parse_origin("http://example.com", development=True) is None
    assert parse_origin("http://127.0.0.1:3000", development=True) is not None


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("https://*.vercel.*", "last two labels"),
        ("https://*.app", "last two labels"),
        ("https://*", "last two labels"),
        ("https://jessie-*.vercel.app/", "no path"),
        ("https://jessie-*.vercel.app/*", "no path"),
        ("https://user@jessie-*.vercel.app", "no path"),
        ("http://jessie-*.vercel.app", "loopback"),
        ("jessie-*.vercel.app", "scheme://host"),
        ("https://jessie_*.vercel.app", "scheme://host"),
        ("https://-jessie*.vercel.app", "DNS name"),
    ],
)
def test_a_pattern_that_trusts_too_much_or_cannot_be_read_is_refused_at_start(pattern: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        OriginPattern.parse(pattern)
    with pytest.raises(ValidationError, match="OAUTH_RELAY_ORIGINS"):
        Settings(OAUTH_RELAY_ORIGINS=f"https://ok-*.example.com, {pattern}")


def test_a_wildcard_label_of_its_own_is_one_label() -> None:
    patterns = parse_patterns("https://*.preview.example.com")
    assert relay_target("https://pr-12.preview.example.com", patterns, development=False) is not None
    assert relay_target("https://a.b.preview.example.com", patterns, development=False) is None
    assert relay_target("https://preview.example.com", patterns, development=False) is None
