"""What a failed token refresh means, from the RefreshError shapes google-auth raises."""

from __future__ import annotations

import pytest
from google.auth.exceptions import RefreshError

from app.gmail.errors import GrantRevoked, OAuthClientRejected, TokenEndpointFailed, token_error
from app.gmail.retry import classify


def refused(*args: object, **kwargs: object) -> RefreshError:
    """A RefreshError as google-auth raises it (its constructor is untyped)."""
    return RefreshError(*args, **kwargs)  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    ("error", "meaning", "transient", "systemic"),
    [
        (refused("invalid_grant: Bad Request", {"error": "invalid_grant"}), GrantRevoked, False, False),
        (refused("Reauthentication is needed. Please run `gcloud auth …`"), GrantRevoked, False, False),
        (refused("invalid_client: Unauthorized", {"error": "invalid_client"}), OAuthClientRejected, False, True),
        (refused("x", {"error": "unauthorized_client"}), OAuthClientRejected, False, True),
        (refused("<!DOCTYPE html><p><b>502.</b>", retryable=False), TokenEndpointFailed, True, True),
        (refused("server_error: x", {"error": "server_error"}, retryable=True), TokenEndpointFailed, True, True),
    ],
)
def test_refresh_errors_become_what_they_mean(
    error: RefreshError, meaning: type[Exception], transient: bool, systemic: bool
) -> None:
    typed = token_error(error)
    assert isinstance(typed, meaning)
    verdict = classify(typed)
    assert (verdict.transient, verdict.systemic) == (transient, systemic)
    assert "<" not in str(typed)  # never Google's HTML in a log line
