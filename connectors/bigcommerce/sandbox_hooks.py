"""The sandbox's ``/v3/hooks``: registering, listing, changing and deleting webhooks.

A hook is ``{scope, destination, is_active, headers}``; its ``headers`` go with every callback
(:mod:`.sandbox_webhooks`). BigCommerce calls https destinations on port 443 only; the sandbox
also takes ``http`` on loopback, where test and demo receivers listen. Answers are v3 bodies
(``{"data": hook, "meta": {}}``) and v3 errors.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from connectors.bigcommerce.sandbox_catalog import envelope, v3_error
from connectors.bigcommerce.sandbox_state import Hook, Reply, StoreState


def list_hooks(state: StoreState, q: dict[str, str]) -> Reply:
    """``GET /v3/hooks``, filtered by ``scope``, ``destination`` and ``is_active``."""
    hooks = sorted(state.hooks.values(), key=lambda h: h.id)
    if "scope" in q:
        hooks = [h for h in hooks if h.scope == q["scope"]]
    if "destination" in q:
        hooks = [h for h in hooks if h.destination == q["destination"]]
    if "is_active" in q:
        hooks = [h for h in hooks if h.is_active == (q["is_active"] == "true")]
    return envelope(q, hooks, msgspec.structs.asdict)


def check_hook(body: Any, *, partial: bool) -> dict[str, str] | None:
    """The v3 ``errors`` of a hook body, or None when it is acceptable."""
    if not isinstance(body, dict):
        return {"body": "must be a JSON object"}
    errors = {}
    scope, destination = body.get("scope"), body.get("destination")
    if (scope is not None or not partial) and not (
        isinstance(scope, str) and scope.startswith("store/")
    ):
        errors["scope"] = "must be a store/... scope"
    if destination is not None or not partial:
        url = _url(destination)
        loopback = url is not None and (
            url.host in ("localhost", "::1") or url.host.startswith("127.")
        )
        # BigCommerce calls https on port 443 only; the sandbox also reaches loopback receivers.
        if url is None or not ((url.scheme == "https" and url.port in (None, 443)) or loopback):
            errors["destination"] = "must be an https URL on port 443"
    headers = body.get("headers")
    if headers is not None and not (
        isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values())
    ):
        errors["headers"] = "must be an object of string values"
    return errors or None


def _url(value: object) -> httpx.URL | None:
    if not isinstance(value, str):
        return None
    try:
        return httpx.URL(value)
    except httpx.InvalidURL:
        return None


def create_hook(state: StoreState, body: Any) -> Reply:
    """``POST /v3/hooks``: 422 with the fields' problems, else the hook."""
    errors = check_hook(body, partial=False)
    if errors is not None:
        return v3_error(422, "The hook is not valid.", errors)
    now = int(state.now().timestamp())
    hook = Hook(
        id=state.next_id("hook", 20_000_000),
        scope=body["scope"],
        destination=body["destination"],
        is_active=bool(body.get("is_active", True)),
        headers=body.get("headers"),
        created_at=now,
        updated_at=now,
    )
    state.hooks[hook.id] = hook
    return 200, {"data": hook, "meta": {}}


def one_hook(state: StoreState, method: str, hook_id: int, body: Any) -> Reply:
    """``GET``, ``PUT`` (a partial update) or ``DELETE`` ``/v3/hooks/{id}``."""
    hook = state.hooks.get(hook_id)
    if hook is None:
        return v3_error(404, "The hook is not found.")
    if method == "GET":
        return 200, {"data": hook, "meta": {}}
    if method == "DELETE":
        del state.hooks[hook_id]
        return 200, {"data": hook, "meta": {}}
    if method != "PUT":
        return v3_error(405, "Method not allowed.")
    errors = check_hook(body, partial=True)
    if errors is not None:
        return v3_error(422, "The hook is not valid.", errors)
    for field in ("scope", "destination", "is_active", "headers"):
        if field in body:
            setattr(hook, field, body[field])
    hook.updated_at = int(state.now().timestamp())
    return 200, {"data": hook, "meta": {}}
