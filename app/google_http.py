"""The HTTP client every call to Google goes through (httplib2, what google-api-python-client and
google-auth's httplib2 transport use).

In test mode Google is this very deployment's stand-in (`TEST_MODE_PATH` on its own URL), and a
Preview's URL sits behind Deployment Protection, so those calls carry the deployment's Protection
Bypass for Automation secret, as any automation calling a protected deployment does. Nothing else
gets it: the secret never leaves for a host that is not this deployment.
"""

from __future__ import annotations

from typing import Any

import httplib2

from app.config import TEST_MODE_PATH, Settings

BYPASS_HEADER = "x-vercel-protection-bypass"


class _ToOwnStandIn(httplib2.Http):  # type: ignore[misc]
    def __init__(self, stand_in: str, bypass: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stand_in = stand_in
        self._bypass = bypass

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        if uri.startswith(self._stand_in):
            headers = {**(headers or {}), BYPASS_HEADER: self._bypass}
        return super().request(uri, method, body=body, headers=headers, **kwargs)


def google_http(settings: Settings) -> httplib2.Http:
    secret = settings.vercel_automation_bypass_secret
    if settings.test_mode and secret is not None:
        stand_in = f"https://{settings.vercel_url}{TEST_MODE_PATH}/"
        return _ToOwnStandIn(stand_in, secret.get_secret_value(), timeout=settings.http_timeout_s)
    return httplib2.Http(timeout=settings.http_timeout_s)
