"""How the search box reads a query (the SQL it becomes is tested against Postgres in integration)."""

from __future__ import annotations

from app.search import FieldMatch, LabelMatch, parse


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
