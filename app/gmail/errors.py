"""What Google's failures mean, as types the sync acts on.

Gmail's own answers that change what the sync does next:

- `PageTokenExpired`: `messages.list` answers 400 for a page token it no longer knows; the
  listing starts again from the top (what was stored is skipped, not fetched again).
- `HistoryExpired`: `history.list` answers 404 for a start id older than Gmail keeps
  (about a week); the account needs a full resync.

google-auth reports every token-endpoint failure as one `RefreshError`; what it means
decides what happens to an account, so it is read here once:

- `GrantRevoked`: `invalid_grant` (revoked, expired, password changed) or a Workspace
  reauthentication demand (`invalid_rapt`): only the user can fix it by reconnecting,
  so the account is parked (`needs_reauth`).
- `OAuthClientRejected`: `invalid_client` (a rotated or wrong client secret) or
  `unauthorized_client`: Jessie's configuration is wrong and every account fails alike;
  the run fails (one alert) and no account is blamed.
- `TokenEndpointFailed`: a 5xx, an HTML error page, anything unreadable: Google's outage,
  retried like any transient failure, and if it persists the run fails, again blaming no
  account.
"""

from __future__ import annotations

from google.auth.exceptions import RefreshError

GRANT_ERRORS = {"invalid_grant"}
CLIENT_ERRORS = {"invalid_client", "unauthorized_client"}
# google-auth's own words when Google answers invalid_grant with error_subtype invalid_rapt
# or rapt_required (google/oauth2/reauth.py): it drops the response body in that case.
REAUTH_NEEDED = "Reauthentication is needed"


class PageTokenExpired(Exception):
    """messages.list no longer knows this page token."""


class HistoryExpired(Exception):
    """history.list no longer has records from this start id."""


class GrantRevoked(Exception):
    """The user's grant is gone; the account must be reconnected."""


class OAuthClientRejected(Exception):
    """Google refused Jessie's OAuth client itself (configuration, not the user)."""


class TokenEndpointFailed(Exception):
    """Google's token endpoint did not answer usefully (an outage)."""


def token_error(error: RefreshError) -> Exception:
    """The typed error for a failed token refresh; messages carry codes, never tokens."""
    details = next((arg for arg in error.args[1:] if isinstance(arg, dict)), None)
    code = str(details.get("error", "")) if details else ""
    if code in GRANT_ERRORS:
        return GrantRevoked(f"{code}: revoked or expired")
    if str(error.args[0] if error.args else "").startswith(REAUTH_NEEDED):
        return GrantRevoked("invalid_rapt: Google requires the user to sign in again")
    if code in CLIENT_ERRORS:
        return OAuthClientRejected(
            f"Google refused Jessie's OAuth client ({code}): check GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET"
        )
    shown = code or "an unreadable answer"
    return TokenEndpointFailed(f"Google's token endpoint failed ({shown})")
