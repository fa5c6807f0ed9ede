"""The bot's outgoing token: client credentials for the Bot Connector, fetched once and cached.

`BotTokenProvider` posts the client-credentials grant to
`{TEAMS_LOGIN_URL}/{tenant}/oauth2/v2.0/token` with scope `https://api.botframework.com/.default`
and keeps the token until shortly before it expires (`expires_in` less a tenth of it, at most
five minutes). It is thread-safe: when many of the scheduler's threads need a token at once, one
of them fetches it and the others wait for that answer, so a round of thousands asks once.

It is also the Teams SDK's `token=` option (`microsoft_teams.api.auth.credentials.TokenProvider`):
the SDK calls it with `(scope, tenant_id)` on every send and caches nothing itself, and it answers
from the same cache. (The SDK's own path uses MSAL, which refuses an `http://` authority and asks
login.microsoftonline.com for instance discovery; a sovereign cloud's or a test's login URL works
through this provider.)

The client secret and the tokens are never logged, never in an exception's text and never in
`repr`: a failure names the token endpoint's error code only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

log = logging.getLogger("plcbot.teams.auth")

BOT_SCOPE = "https://api.botframework.com/.default"
# Refresh this long before `expires_in` runs out: a tenth of the lifetime, at most five minutes.
REFRESH_FRACTION = 0.1
REFRESH_MAX = 300.0


class TokenError(Exception):
    """No token: the endpoint refused (`code` is its `error`, e.g. invalid_client) or did not answer.

    `transient` when trying again later may help (a 429, a 5xx, no answer)."""

    def __init__(self, code: str, *, transient: bool) -> None:
        super().__init__(code)
        self.code = code
        self.transient = transient


@dataclass
class _Cached:
    token: str
    refresh_at: float  # monotonic seconds

    def __repr__(self) -> str:
        return f"_Cached(token=***, refresh_at={self.refresh_at:.0f})"


class BotTokenProvider:
    """Client-credentials tokens for one bot registration, cached per scope and tenant."""

    def __init__(self, *, client_id: str, client_secret: str, tenant_id: str, login_url: str,
                 http: httpx.Client | None = None, timeout: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.tenant_id = tenant_id
        self.login_url = login_url.rstrip("/")
        self._http = http or httpx.Client(timeout=timeout)
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], _Cached] = {}
        self.fetches = 0  # token requests answered with a token (tests and the benchmark read it)

    def __repr__(self) -> str:
        return f"BotTokenProvider(client_id={self.client_id!r}, tenant_id={self.tenant_id!r}, secret=***)"

    # ------------------------------------------------------------------ the SDK's TokenProvider
    def __call__(self, scope: str | list[str] = BOT_SCOPE, tenant_id: str | None = None) -> str:
        """`BasicTokenProvider`: `(scope, tenant_id) -> token`."""
        return self.token(scope, tenant_id)

    def get_app_token(self, scope: str, tenant_id: str | None) -> str:
        """`TokenProviderProtocol.get_app_token`."""
        return self.token(scope, tenant_id)

    # ------------------------------------------------------------------ tokens
    def token(self, scope: str | list[str] = BOT_SCOPE, tenant_id: str | None = None) -> str:
        """A valid token for `scope` in `tenant_id` (default: the bot's tenant), from the cache
        when it is not about to expire; `TokenError` when none can be had."""
        scope_text = " ".join(scope) if isinstance(scope, list) else scope
        key = (scope_text, tenant_id or self.tenant_id)
        with self._lock:  # held while fetching: the other threads wait for this one answer
            cached = self._cache.get(key)
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.token
            fresh = self._fetch(*key)
            self._cache[key] = fresh
            return fresh.token

    def invalidate(self, token: str) -> None:
        """Forget `token` (the connector answered 401 with it); a newer one is kept."""
        with self._lock:
            for key, cached in list(self._cache.items()):
                if cached.token == token:
                    del self._cache[key]

    def _fetch(self, scope: str, tenant: str) -> _Cached:
        url = f"{self.login_url}/{tenant}/oauth2/v2.0/token"
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._secret,
                "scope": scope}
        started = self._clock()
        try:
            response = self._http.post(url, data=form)
        except httpx.HTTPError as exc:
            log.warning("Teams token request failed: %s", type(exc).__name__)
            raise TokenError(type(exc).__name__, transient=True) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            code = str(body.get("error") or f"http_{response.status_code}") if isinstance(body, dict) else "bad_answer"
            transient = response.status_code == 429 or response.status_code >= 500
            log.error("Teams token request refused: %s (HTTP %s)", code, response.status_code)
            raise TokenError(code, transient=transient)
        try:
            lifetime = float(body.get("expires_in") or 0)
        except (TypeError, ValueError):
            lifetime = 0.0
        margin = min(REFRESH_MAX, lifetime * REFRESH_FRACTION)
        self.fetches += 1
        log.info("Fetched a Teams bot token for %s (valid %.0f s)", scope, lifetime)
        return _Cached(str(body["access_token"]), started + max(0.0, lifetime - margin))
