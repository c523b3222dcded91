"""How the search box reads a query (the SQL it becomes is tested against Postgres in integration)."""

from __future__ import annotations

import pytest

from app.search import DateBound, FieldMatch, FileMatch, LabelMatch, SearchRefused, SizeBound, parse


def test_operators_fields_and_free_text() -> None:
    search = parse('from:ada subject:"quarterly review" -to:bob budget "project update" -invoice')
    assert search.fields == [
        FieldMatch("b", "ada"),
        FieldMatch("a", "quarterly review"),
        FieldMatch("c", "bob", negated=True),
    ]
    assert search.text == 'budget "project update" -invoice'
    assert not search.anywhere


def test_labels_locations_and_states() -> None:
    search = parse("label:Work/Projects in:sent is:unread -is:starred is:read")
    assert search.labels == [
        LabelMatch("Work/Projects", by_name=True),
        LabelMatch("SENT", by_name=False),
        LabelMatch("UNREAD", by_name=False, present=True),
        LabelMatch("STARRED", by_name=False, present=False),
        LabelMatch("UNREAD", by_name=False, present=False),
    ]


def test_spam_and_trash_only_when_named() -> None:
    assert not parse("invoice").anywhere
    assert parse("in:spam").anywhere and parse("label:trash").anywhere and parse("in:anywhere x").anywhere
    assert not parse("-in:spam").anywhere


def test_unknown_operators_and_empty_values_are_text() -> None:
    search = parse('foo:bar from: label:"" is:whatever')
    assert (search.fields, search.labels) == ([], [])
    assert search.text == 'foo:bar from: label:"" is:whatever'
    assert parse("   ").empty


def test_attachments_dates_ages_and_sizes() -> None:
    search = parse("has:attachment filename:PDF -filename:draft after:2026/01/31 older:12/24/2025 newer_than:2d")
    assert search.attachment is True
    assert search.files == [FileMatch("pdf"), FileMatch("draft", negated=True)]
    assert search.dates == [
        DateBound(before=False, date="2026-01-31"),
        DateBound(before=True, date="2025-12-24"),
        DateBound(before=False, age=(2, "days")),
    ]
    assert parse("-after:1767225600 older_than:1y").dates == [
        DateBound(before=True, epoch_s=1_767_225_600),
        DateBound(before=True, age=(1, "years")),
    ]
    assert parse("larger:10M smaller:512 -size:2k").sizes == [
        SizeBound(larger=True, bytes=10 * 1024 * 1024),
        SizeBound(larger=False, bytes=512),
        SizeBound(larger=False, bytes=2048),
    ]
    assert parse("-has:attachment").attachment is False
    assert search.text == "" and not search.empty


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("cc:bob", "cc:"),
        ("category:promotions", "category:"),
        ("has:youtube", "has:youtube"),
        ("before:tomorrow", "takes a date"),
        ("newer_than:3w", "takes an age"),
        ("smaller:1G", "takes a size"),
    ],
)
def test_what_jessie_cannot_answer_is_refused_in_words(query: str, said: str) -> None:
    with pytest.raises(SearchRefused, match=said):
        parse(query)


def test_words_that_only_look_like_operators_are_text() -> None:
    assert parse("meet at 10:30 re:budget").text == "meet at 10:30 re:budget"
