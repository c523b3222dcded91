"""The sweep's seats as messages: signed under CRON_SECRET, keyed by slot and seat, and refused
when anything in them was changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.sync.fanout import BadSeat, Seat

SLOT = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
SECRET = "s" * 40
DPL = "dpl_one"


def test_a_seat_survives_its_round_trip() -> None:
    seat = Seat(7, SLOT, 2, DPL)
    assert Seat.verified(seat.payload(SECRET), SECRET, DPL) == seat


def test_the_idempotency_key_names_the_slot_and_the_seat_only() -> None:
    """A repeated cron delivery publishes under the same keys; the next slot under new ones."""
    assert Seat(7, SLOT, 2, DPL).idempotency_key() == "sweep-20261202T150000-seat-2"
    assert Seat(8, SLOT, 2, DPL).idempotency_key() == Seat(7, SLOT, 2, DPL).idempotency_key()
    assert Seat(7, SLOT + timedelta(hours=1), 2, DPL).idempotency_key() != Seat(7, SLOT, 2, DPL).idempotency_key()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: {**p, "sweep": p["sweep"] + 1},
        lambda p: {**p, "seat": 3},
        lambda p: {**p, "slot": (SLOT - timedelta(hours=1)).isoformat()},
        lambda p: {**p, "mac": p["mac"][:-1] + ("0" if p["mac"][-1] != "0" else "1")},
        lambda p: {**p, "mac": 12},
        lambda p: {**p, "mac": "é" * 64},
        lambda p: {**p, "deployment": "dpl_two"},
        lambda p: {**p, "extra": 1},
        lambda p: {k: v for k, v in p.items() if k != "mac"},
        lambda p: [p],
        lambda p: None,
    ],
)
def test_a_changed_or_foreign_payload_is_refused(tamper: object) -> None:
    payload = Seat(7, SLOT, 2, DPL).payload(SECRET)
    with pytest.raises(BadSeat):
        Seat.verified(tamper(payload), SECRET, DPL)  # type: ignore[operator]


def test_another_secret_refuses_it() -> None:
    with pytest.raises(BadSeat, match="MAC"):
        Seat.verified(Seat(7, SLOT, 2, DPL).payload(SECRET), "t" * 40, DPL)


def test_another_deployment_refuses_it() -> None:
    """Previews and Production may share CRON_SECRET; a seat runs only where it was published."""
    with pytest.raises(BadSeat, match="another deployment"):
        Seat.verified(Seat(7, SLOT, 2, DPL).payload(SECRET), SECRET, "dpl_two")


def test_a_body_that_is_not_json_is_refused() -> None:
    for body in (b"[" * 60_000, b"\xff", b"{"):
        with pytest.raises(BadSeat, match="not JSON"):
            Seat.from_body(body, SECRET, DPL)


def test_well_signed_nonsense_is_refused_without_a_crash() -> None:
    from app.sync.fanout import _mac

    fields = {"sweep": "x", "slot": "yesterday", "seat": 1, "deployment": DPL}
    with pytest.raises(BadSeat, match="malformed"):
        Seat.verified({**fields, "mac": _mac(SECRET, fields)}, SECRET, DPL)
