"""The bot's outgoing token: client credentials against `{TEAMS_LOGIN_URL}/{tenant}/oauth2/v2.0/token`.

A minimal provider for the SDK's `token=` option (the SDK's own MSAL path refuses an http://
authority and asks login.microsoftonline.com for instance discovery, so it cannot reach a
sovereign cloud's or the test suite's stand-in; see FIELD-NOTES). The token is cached until
five minutes before it expires: the SDK calls the provider on every send and caches nothing.
A sibling branch writes the full provider; this one is what the Teams front needs to run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx

BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
REFRESH_MARGIN = 300.0  # seconds before expiry a token is replaced


class TokenError(RuntimeError):
    """The token endpoint refused or could not be reached; the message names neither secret nor token."""


class ClientCredentialsToken:
    """Callable as the SDK's TokenProvider: `(scope, tenant_id) -> access token` (awaitable)."""

    def __init__(self, *, login_url: str, tenant_id: str, client_id: str, client_secret: str,
                 timeout: float = 10.0) -> None:
        self.url = f"{login_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        self._timeout = timeout
        self._cache: dict[str, tuple[str, float]] = {}  # scope -> (token, expires at, monotonic)
        self._lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None

    def _cached(self, scope: str) -> str | None:
        found = self._cache.get(scope)
        if found and found[1] - REFRESH_MARGIN > time.monotonic():
            return found[0]
        return None

    def _store(self, scope: str, response: httpx.Response) -> str:
        if response.status_code != 200:
            try:
                error = response.json().get("error", "error")
            except ValueError:
                error = "error"
            raise TokenError(f"the token endpoint {self.url} answered {response.status_code} ({error})")
        body: dict[str, Any] = response.json()
        token = str(body["access_token"])
        self._cache[scope] = (token, time.monotonic() + float(body.get("expires_in", 3600)))
        return token

    def get(self, scope: str = BOT_FRAMEWORK_SCOPE) -> str:
        """Synchronously (the scheduler's thread, the health check)."""
        with self._lock:
            token = self._cached(scope)
            if token is None:
                with httpx.Client(timeout=self._timeout) as client:
                    token = self._store(scope, client.post(self.url, data={**self._form, "scope": scope}))
            return token

    async def __call__(self, scope: str | list[str] = BOT_FRAMEWORK_SCOPE, tenant_id: str | None = None) -> str:
        wanted = scope[0] if isinstance(scope, list) else scope
        token = self._cached(wanted)
        if token is not None:
            return token
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        async with self._async_lock:
            token = self._cached(wanted)
            if token is None:
                async with httpx.AsyncClient(timeout=self._timeout) as client:
                    token = self._store(wanted, await client.post(self.url, data={**self._form, "scope": wanted}))
            return token
