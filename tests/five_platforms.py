"""A channel of each platform on its sandbox, and deliveries signed as each platform signs them.

The channels come from the sandboxes' demo plays (the settings and credentials each sandbox
accepts); the sandbox apps are only served where a test needs real calls.
"""

from __future__ import annotations

import importlib
import time
import urllib.parse
from typing import Any

import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from connectors import sandbox_play
from connectors.bigcommerce import webhooks as bigcommerce_webhooks
from connectors.sandbox_server import SandboxOptions
from connectors.shipbob import sandbox_play as shipbob_play
from connectors.shipbob import webhooks as shipbob_webhooks
from connectors.shopify import webhooks as shopify_webhooks

PLATFORMS = ("shopify", "wix", "bigcommerce", "shipstation", "shipbob")


class PlatformChannel(msgspec.Struct):
    """A channel named after its platform, for the sandbox of its demo play (``app``)."""

    platform: str
    demo: Any
    """The platform's ``sandbox_play`` demo object: its ``app`` and ``played(url)``."""
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    secrets: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.platform

    @property
    def app(self) -> Any:
        return self.demo.app

    def at(self, url: str) -> None:
        """Point the channel at its sandbox served at ``url``."""
        if self.platform == "shipbob":
            _, self.settings, self.secrets = self.demo.played(url)
        else:
            played: sandbox_play.Played = self.demo.played(url)
            self.settings, self.secrets = played.settings, played.secrets


def platform_channels(url: str = "http://127.0.0.1:9") -> list[PlatformChannel]:
    """One channel per platform, each with a fresh sandbox, pointed at ``url`` until
    :meth:`PlatformChannel.at` says where its sandbox is served."""
    options = SandboxOptions(seed=1, catalog=6, shared_catalog=True)
    channels = []
    for platform in PLATFORMS:
        if platform == "shipbob":
            demo: Any = shipbob_play.demo_provider(options)
        else:
            demo = importlib.import_module(f"connectors.{platform}.sandbox_play").demo_storefront(
                options
            )
        channel = PlatformChannel(platform=platform, demo=demo)
        channel.at(url)
        channels.append(channel)
    return channels


def channel_table(
    channel: PlatformChannel, references: dict[str, str], **extra: Any
) -> dict[str, Any]:
    """The ``[[channels]]`` table of ``channel`` with its credentials given as ``references``."""
    return {
        "name": channel.name,
        "platform": channel.platform,
        "credentials": references,
        "settings": channel.settings,
        **extra,
    }


def variable(channel: PlatformChannel, credential: str) -> str:
    """The environment variable a test puts ``channel``'s ``credential`` in."""
    return f"{channel.name}_{credential}".upper()


def in_environment(channels: list[PlatformChannel]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The environment holding every channel's credentials, and the channels' tables
    referring to them (``env:``)."""
    environ = {variable(c, k): value for c in channels for k, value in c.secrets.items()}
    tables = [channel_table(c, {k: f"env:{variable(c, k)}" for k in c.secrets}) for c in channels]
    return environ, tables


class Delivery(msgspec.Struct, frozen=True):
    """A webhook request: the target (path and query), headers and body."""

    target: str
    headers: dict[str, str]
    body: bytes


def signed_delivery(
    channel: PlatformChannel,
    body: bytes,
    delivery_id: str,
    *,
    secrets: dict[str, str] | None = None,
    wix_key: RSAPrivateKey | None = None,
) -> Delivery:
    """``body`` delivered to ``channel`` as its platform signs a delivery (for Wix, whose body
    is the signature, a JWT whose ``data`` claim is ``body`` as text), with the channel's
    secrets and its sandbox's key unless ``secrets`` or ``wix_key`` say otherwise."""
    secrets = channel.secrets if secrets is None else secrets
    target = f"/webhooks/{channel.name}"
    headers: dict[str, str] = {}
    match channel.platform:
        case "shopify":
            headers = {
                "X-Shopify-Hmac-Sha256": shopify_webhooks.signature(
                    secrets["webhook_secret"], body
                ),
                "X-Shopify-Webhook-Id": delivery_id,
                "X-Shopify-Topic": "orders/updated",
            }
        case "shipbob":
            headers = shipbob_webhooks.sign(
                secrets["webhook_secret"], delivery_id, int(time.time()), body
            ) | {"x-webhook-topic": "order.shipped"}
        case "bigcommerce":
            headers = {bigcommerce_webhooks.DEFAULT_HEADER: secrets["webhook_secret"]}
        case "shipstation":
            token = urllib.parse.urlencode({"token": secrets["webhook_secret"]})
            target += f"?{token}"
        case "wix":
            issued = int(time.time())
            claims = {"data": body.decode("utf-8", "replace"), "iat": issued, "exp": issued + 60}
            body = jwt.encode(
                claims, wix_key or channel.app.webhooks.key, algorithm="RS256"
            ).encode()
    return Delivery(target=target, headers=headers, body=body)
