"""How the Wix client authenticates: an API key, or an app's OAuth client credentials.

- :class:`ApiKey`: ``Authorization: <API key>`` (raw, no scheme) plus ``wix-site-id``, as
  Wix documents for API keys.
- :class:`ClientCredentials`: ``POST /oauth2/token`` with ``grant_type=client_credentials``,
  the app id, the app secret and the site's app instance id returns an ``access_token``, sent
  raw in ``Authorization`` (the instance names the site, so no ``wix-site-id``). The token is
  kept until :data:`REFRESH_MARGIN` seconds before it expires (``expires_in``; Wix's tokens
  are said to last four hours, unconfirmed, so that is assumed when the answer omits it), and
  dropped when a call made with it answers 401, so that the next call asks for a new one.
  Calls run side by side (the channel reads while it writes): one token request serves all
  those waiting for it, and a 401 to a call sent with an older token drops nothing.

The token request passes the channel's gate like any call; its failures are classified like
the API's (401/403 → ``AuthFailed``: the app secret or instance is wrong).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import httpx
import msgspec
import trio

from connectors.base import CallGate
from connectors.errors import AuthFailed
from connectors.http import check_status, translate_errors
from daemon.credentials import Secret

REFRESH_MARGIN = 300.0
"""Seconds before expiry at which a token is replaced."""
ASSUMED_LIFETIME = 4 * 3600.0


class Auth(Protocol):
    async def headers(self, http: httpx.AsyncClient, gate: CallGate) -> dict[str, str]:
        """The headers that authenticate the next call."""
        ...

    def refused(self, sent: Mapping[str, str]) -> bool:
        """Told that a call sent with the headers ``sent`` answered 401; True if asking again
        with new headers may help."""
        ...


class ApiKey:
    def __init__(self, key: Secret, site_id: str) -> None:
        self._key = key
        self._site_id = site_id

    async def headers(self, http: httpx.AsyncClient, gate: CallGate) -> dict[str, str]:
        return {"Authorization": self._key.reveal(), "wix-site-id": self._site_id}

    def refused(self, sent: Mapping[str, str]) -> bool:
        return False  # a key does not expire: asking again cannot help


class _TokenRequest(msgspec.Struct):
    grant_type: str
    client_id: str
    client_secret: str
    instance_id: str


class _TokenAnswer(msgspec.Struct):
    access_token: str
    expires_in: float | None = None


class ClientCredentials:
    def __init__(self, base_url: str, app_id: str, app_secret: Secret, instance_id: str) -> None:
        self._url = base_url.rstrip("/") + "/oauth2/token"
        self._app_id = app_id
        self._secret = app_secret
        self._instance_id = instance_id
        self._token: str | None = None
        self._expires_at = 0.0
        self._refreshing = trio.Lock()

    async def headers(self, http: httpx.AsyncClient, gate: CallGate) -> dict[str, str]:
        async with self._refreshing:  # callers that find the token gone wait for one request
            if self._token is None or trio.current_time() >= self._expires_at - REFRESH_MARGIN:
                await self._refresh(http, gate)
        assert self._token is not None
        return {"Authorization": self._token}

    def refused(self, sent: Mapping[str, str]) -> bool:
        # Another call may have brought a new token since this one was sent: only the token
        # this call carried is dropped. Either way, one more try gets a token this one lacked.
        if sent.get("Authorization") == self._token:
            self._token = None
        return True

    async def _refresh(self, http: httpx.AsyncClient, gate: CallGate) -> None:
        what = "wix oauth2 token"
        request = _TokenRequest(
            grant_type="client_credentials",
            client_id=self._app_id,
            client_secret=self._secret.reveal(),
            instance_id=self._instance_id,
        )
        async with gate.call():
            with translate_errors(what):
                response = await http.post(
                    self._url,
                    content=msgspec.json.encode(request),
                    headers={"Content-Type": "application/json"},
                )
        check_status(response, what)
        if response.status_code != 200:
            # 400 is Wix's answer to an unknown app id or instance: nothing works until fixed.
            raise AuthFailed(f"{what}: {response.status_code} {response.reason_phrase}")
        try:
            answer = msgspec.json.decode(response.content, type=_TokenAnswer)
        except msgspec.DecodeError as exc:
            raise AuthFailed(f"{what}: unexpected answer: {exc}") from None
        lifetime = answer.expires_in if answer.expires_in is not None else ASSUMED_LIFETIME
        self._token = answer.access_token
        self._expires_at = trio.current_time() + lifetime
