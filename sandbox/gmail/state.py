"""Everything one sandbox instance knows: mailboxes, OAuth grants, quota, faults, stats."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .clock import Clock
from .faults import Faults
from .mailbox import Mailbox
from .oauth import OAuthServer
from .quota import QuotaEnforcer


@dataclass
class AccountStats:
    requests: int = 0
    quota_units: int = 0
    batches: int = 0
    errors_injected: int = 0
    rate_limited: int = 0
    methods: Counter[str] = field(default_factory=Counter)
    largest_batch_bytes: int = 0  # the biggest batch response of more than one part

    def to_json(self, oauth_token_requests: int) -> dict[str, object]:
        return {
            "requests": self.requests,
            "quota_units": self.quota_units,
            "batches": self.batches,
            "errors_injected": self.errors_injected,
            "rate_limited": self.rate_limited,
            "largest_batch_bytes": self.largest_batch_bytes,
            "methods": dict(self.methods),
            "oauth_token_requests": oauth_token_requests,
        }


class SandboxState:
    def __init__(self, seed: int = 0, access_token_lifetime: int = 3599) -> None:
        self.seed = seed
        self.clock = Clock()
        self.oauth = OAuthServer(self.clock, access_token_lifetime)
        self.quota = QuotaEnforcer()
        self.faults = Faults()
        self.mailboxes: dict[str, Mailbox] = {}
        self.stats: dict[str, AccountStats] = {}
        self.gmail_requests = 0  # every Gmail API call, attributed or not (drives stalls)
        self.resets = 0

    def create_account(
        self, email: str, messages: int, seed: int | None = None, reply_rate: float | None = None
    ) -> dict[str, object]:
        """A generated mailbox (`reply_rate`: how conversational, see MessageFactory)."""
        if email in self.mailboxes:
            raise ValueError(f"account {email} already exists")
        mailbox = Mailbox(email, self.seed if seed is None else seed, reply_rate)
        mailbox.populate(messages)
        self.mailboxes[email] = mailbox
        self.stats[email] = AccountStats()
        token = self.oauth.issue_refresh_token(email)
        return {"email": email, "refresh_token": token, "history_id": str(mailbox.history_id)}

    def stats_json(self) -> dict[str, object]:
        return {
            "accounts": {
                email: stats.to_json(self.oauth.token_requests.get(email, 0)) for email, stats in self.stats.items()
            },
            "gmail_requests": self.gmail_requests,
            "resets": self.resets,
            "quota_model": self.quota.config.model,  # the costs `quota_units` is charged at
        }

    def reset_stats(self) -> None:
        for email in self.stats:
            self.stats[email] = AccountStats()
        self.oauth.token_requests.clear()
        self.gmail_requests = 0
        self.resets = 0
