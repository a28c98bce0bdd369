"""The TOML configuration file: its typed shape, and loading that reports every error at once.

:func:`load_config` returns a :class:`Config` or raises :class:`ConfigError`, whose
``problems`` are lines of the form ``<path>: <problem>`` with 0-based indices, e.g.
``channels[1].name: must be letters and digits only, got "main store"``. Every field is
checked, not just the first bad one, so an operator fixes the whole file in one pass.
"""

from __future__ import annotations

import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec

from actors.rules.orders import ImportPolicy, ShipOption
from connectors.base import ConnectorSpec
from connectors.model import BundleComponent, FulfillmentStatus, PaymentStatus
from connectors.registry import BUILTIN, PluginError, load_plugin
from daemon.credentials import CredentialRef, Secret
from daemon.durations import Duration

DEFAULT_LISTEN = "127.0.0.1:8754"
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9]+")
_S = TypeVar("_S", bound=msgspec.Struct)
_LISTEN = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})")


class DaemonConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    state: str = "sqlite:///shelfsync-state.db"
    sqlite_synchronous: Literal["full", "normal"] = "full"
    listen: str = DEFAULT_LISTEN
    control_socket: str = "shelfsync.sock"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shutdown_grace: Duration = msgspec.field(default_factory=lambda: Duration("10s"))
    webhook_max_bytes: int = 1_048_576
    mailbox_size: int = 64
    request_timeout: Duration = msgspec.field(default_factory=lambda: Duration("30s"))
    """The longest any outbound request may take to answer (its connect, write and read
    phases each, and from sending to the response headers as a whole); a request that takes
    longer is abandoned and retried."""
    max_restarts: int = 5
    restart_window: Duration = msgspec.field(default_factory=lambda: Duration("10m"))
    restart_backoff: Duration = msgspec.field(default_factory=lambda: Duration("1s"))
    restart_backoff_max: Duration = msgspec.field(default_factory=lambda: Duration("5m"))
    plugins: list[str] = msgspec.field(default_factory=list)
    audit_retention_days: int = 30
    """Audit entries older than this many days are deleted; 0: kept forever."""


class OrdersConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A channel's ``[channels.orders]`` table: which of its orders are imported."""

    payment_statuses: list[PaymentStatus] = msgspec.field(default_factory=lambda: ["paid"])
    fulfillment_statuses: list[FulfillmentStatus] = msgspec.field(
        default_factory=lambda: ["unfulfilled", "partially_fulfilled"]
    )
    ship_start: date | None = None
    """Orders created before this day (UTC) are never imported."""
    history_days: int = 0
    """Orders created more than this many days ago are never imported; 0: no limit."""


class ChannelConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    platform: str
    enabled: bool = True
    paused: bool = False
    credentials: dict[str, CredentialRef] = msgspec.field(default_factory=dict)
    schedule: dict[str, Duration] = msgspec.field(default_factory=dict)
    retry_attempts: int = 5
    max_concurrent_requests: int = 4
    """At most this many requests to the channel's platform in flight at once."""
    retry_backoff: Duration = msgspec.field(default_factory=lambda: Duration("1s"))
    retry_backoff_max: Duration = msgspec.field(default_factory=lambda: Duration("2m"))
    write_attempts: int = 10
    """Drains that may try a write whose retries ran out before it leaves the outbox and waits
    in the exception queue (``retries_exhausted``) for a replay."""
    streams: dict[str, bool] = msgspec.field(default_factory=dict)
    """``false`` switches a stream off: it is never read, nor re-read on a webhook."""
    orders: OrdersConfig = msgspec.field(default_factory=OrdersConfig)
    ship_methods: dict[str, ShipOption] = msgspec.field(default_factory=dict)
    """Store shipping method → fulfillment ship option."""
    relays: str = ""
    """The storefront channel whose orders this channel also carries (a ShipStation store fed
    by that store): an order both read is imported once, by whichever reads it first."""
    auto_create_products: bool = True
    """Create the store's new products in the fulfillment catalog (and an order line's
    unknown SKU); false: such an order is held instead."""
    safety_threshold: int = 0
    """Below this sellable quantity the store is told 0."""
    review_threshold: int = 0
    """A stock change larger than this many units is held for review instead of written;
    0: never held."""
    requests_per_second: float | None = None
    """Pace calls to the platform at this rate instead of its documented limit (an account
    whose limit was raised, or a test platform); None: the documented limit."""
    burst: float | None = None
    """Calls that may go at once after a quiet spell; None: the platform's documented burst."""
    settings: dict[str, Any] = msgspec.field(default_factory=dict)


class Channel(msgspec.Struct, frozen=True):
    """A channel as the daemon runs it: its config plus what loading resolved."""

    config: ChannelConfig
    spec: ConnectorSpec
    settings: Any
    secrets: dict[str, Secret]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def origin(self) -> str | None:
        """The permanent identity of the channel's store (``ConnectorSpec.origin``); None for
        a platform that is not a storefront."""
        return None if self.spec.origin is None else self.spec.origin(self.settings)

    @property
    def streams(self) -> tuple[str, ...]:
        """The platform's streams this channel reads (those not switched off)."""
        return tuple(s for s in self.spec.stream_names if self.config.streams.get(s, True))

    @property
    def import_policy(self) -> ImportPolicy:
        orders = self.config.orders
        return ImportPolicy(
            payment_statuses=frozenset(orders.payment_statuses),
            fulfillment_statuses=frozenset(orders.fulfillment_statuses),
            ship_start=None
            if orders.ship_start is None
            else datetime.combine(orders.ship_start, time(), UTC),
            history_days=orders.history_days or None,
            ship_methods=self.config.ship_methods,
        )

    @property
    def requests_per_second(self) -> float:
        """The pace of calls to the platform: the config's, else the platform's limit."""
        return self.config.requests_per_second or self.spec.requests_per_second

    @property
    def burst(self) -> float:
        return self.config.burst or self.spec.burst

    def schedule_seconds(self, stream: str) -> float:
        given = self.config.schedule.get(stream)
        if given is not None:
            return given.seconds
        return next(s.default_schedule_seconds for s in self.spec.streams if s.name == stream)


class InventoryConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ``[inventory]`` table."""

    reconcile: Duration = msgspec.field(default_factory=lambda: Duration("15m"))
    """How often every store's stock is compared with what it should show."""


class Bundle(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One ``[[bundles]]`` entry: a SKU sold as a set of other SKUs."""

    sku: str
    components: dict[str, int]
    """Component SKU → units in one bundle."""

    @property
    def parts(self) -> list[BundleComponent]:
        return [BundleComponent(sku, n) for sku, n in self.components.items()]


class Config(msgspec.Struct, frozen=True):
    daemon: DaemonConfig
    channels: list[Channel]
    source: str
    inventory: InventoryConfig = msgspec.field(default_factory=InventoryConfig)
    bundles: list[Bundle] = msgspec.field(default_factory=list)

    @property
    def enabled_channels(self) -> list[Channel]:
        return [channel for channel in self.channels if channel.config.enabled]


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, decode, validate and resolve the config file at ``path``.

    Credentials are read here, so a missing variable or file is a config error, reported
    before anything starts. Raises :class:`ConfigError` listing every problem found.
    """
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return _Loader(dict(environ) if environ is not None else None).load(raw, str(path))


class _Loader:
    def __init__(self, environ: dict[str, str] | None) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def load(self, raw: dict[str, Any], source: str) -> Config:
        unknown = set(raw) - {"daemon", "channels", "inventory", "bundles"}
        for key in sorted(unknown):
            self.problems.append(
                f"{key}: unknown section, expected [daemon], [inventory], [[channels]] "
                "or [[bundles]]"
            )
        inventory = self.decode(
            InventoryConfig, raw.get("inventory", {}), "inventory", _INVENTORY_CHECKS
        )
        bundles = self.decode_bundles(raw.get("bundles", []))
        raw_daemon = raw.get("daemon", {})
        daemon = self.decode(DaemonConfig, raw_daemon, "daemon", _DAEMON_CHECKS)
        # Plugins decide which platforms exist, so they load even when another daemon key
        # is wrong: the channels can then be checked in the same pass.
        plugins = raw_daemon.get("plugins", []) if isinstance(raw_daemon, dict) else []
        specs = self.available_connectors(plugins if isinstance(plugins, list) else [])
        raw_channels = raw.get("channels", [])
        channels: list[Channel] = []
        if not isinstance(raw_channels, list):
            self.problems.append("channels: must be an array of tables ([[channels]])")
            raw_channels = []
        for index, raw_channel in enumerate(raw_channels):
            path = f"channels[{index}]"
            channel = self.resolve_channel(raw_channel, specs, path)
            if channel is not None:
                channels.append(channel)
        self.check_unique_names(raw_channels)
        self.check_one_fulfillment_provider(channels)
        self.check_relays(channels)
        if self.problems or daemon is None or inventory is None:
            raise ConfigError(self.problems)
        return Config(
            daemon=daemon, channels=channels, source=source, inventory=inventory, bundles=bundles
        )

    def decode_bundles(self, raw: object) -> list[Bundle]:
        if not isinstance(raw, list):
            self.problems.append("bundles: must be an array of tables ([[bundles]])")
            return []
        bundles: list[Bundle] = []
        first_index: dict[str, int] = {}
        for index, raw_bundle in enumerate(raw):
            path = f"bundles[{index}]"
            bundle = self.decode(Bundle, raw_bundle, path)
            if bundle is None:
                continue
            if not bundle.sku:
                self.problems.append(f"{path}.sku: must not be empty")
            if not bundle.components:
                self.problems.append(f"{path}.components: must name at least one SKU")
            for sku, units in bundle.components.items():
                if units < 1:
                    self.problems.append(f"{path}.components.{sku}: must be at least 1")
                if sku == bundle.sku:
                    self.problems.append(f"{path}.components.{sku}: a bundle cannot contain itself")
            if bundle.sku in first_index:
                earlier = first_index[bundle.sku]
                self.problems.append(
                    f'{path}.sku: "{bundle.sku}" is already a bundle in bundles[{earlier}]'
                )
            first_index.setdefault(bundle.sku, index)
            bundles.append(bundle)
        return bundles

    def check_relays(self, channels: list[Channel]) -> None:
        names = {c.name for c in channels}
        for index, channel in enumerate(channels):
            relayed = channel.config.relays
            if relayed and (relayed not in names or relayed == channel.name):
                self.problems.append(
                    f'channels[{index}].relays: "{relayed}" is not another channel of this file'
                )

    def check_one_fulfillment_provider(self, channels: list[Channel]) -> None:
        providers = [c.name for c in channels if c.config.enabled and c.spec.role == "fulfillment"]
        if len(providers) > 1:
            self.problems.append(
                "channels: more than one enabled fulfillment provider ("
                + ", ".join(providers)
                + "); enable one"
            )

    def available_connectors(self, plugins: list[object]) -> dict[str, ConnectorSpec]:
        specs = dict(BUILTIN)
        for index, module_name in enumerate(plugins):
            if not isinstance(module_name, str):
                continue  # reported by the daemon table's own decoding
            try:
                spec = load_plugin(module_name)
            except PluginError as exc:
                self.problems.append(f"daemon.plugins[{index}]: {exc}")
            else:
                specs[spec.platform] = spec
        return specs

    def decode(
        self,
        cls: type[_S],
        raw: object,
        path: str,
        checks: Mapping[str, Callable[[Any], str | None]] | None = None,
    ) -> _S | None:
        """Convert ``raw`` to ``cls``, recording a problem for each bad field; None if any."""
        values = self.decode_fields(cls, raw, path, checks or {})
        if values is None:
            return None
        try:
            return cls(**values)
        except (ValueError, TypeError) as exc:
            # A Struct's own __post_init__ check (a connector's rule across its settings).
            self.problems.append(f"{path}: {exc}")
            return None

    def decode_fields(
        self,
        cls: type[msgspec.Struct],
        raw: object,
        path: str,
        checks: Mapping[str, Callable[[Any], str | None]],
    ) -> dict[str, Any] | None:
        """The fields of ``raw`` that convert and pass ``checks``, or None if any field does not.

        Every field is tried, so one bad field does not hide the problems of the others.
        """
        if not isinstance(raw, dict):
            self.problems.append(f"{path}: must be a table, got {_toml_type(raw)}")
            return None
        fields = {field.encode_name: field for field in msgspec.structs.fields(cls)}
        hints = typing.get_type_hints(cls, include_extras=True)
        values: dict[str, Any] = {}
        before = len(self.problems)
        for key in raw:
            if key not in fields:
                self.problems.append(f"{path}.{key}: unknown key")
        for key, field in fields.items():
            if key not in raw:
                if field.required:
                    self.problems.append(f"{path}.{key}: required")
                continue
            value = self.convert(raw[key], hints[field.name], f"{path}.{key}")
            if value is _INVALID:
                continue
            problem = checks[key](value) if key in checks else None
            if problem is not None:
                self.problems.append(f"{path}.{key}: {problem}")
            values[field.name] = value
        return values if len(self.problems) == before else None

    def convert(self, value: object, hint: Any, path: str, *, partial: bool = False) -> object:
        """``value`` as ``hint``, or ``_INVALID`` after recording why.

        With ``partial``, a table keeps the entries that convert instead of failing whole.
        """
        # Dict keys are part of the path an operator needs to see ("schedule.orders"), and
        # msgspec reports them as "[...]", so mappings are walked here, key by key.
        if typing.get_origin(hint) is dict:
            if not isinstance(value, dict):
                self.problems.append(f"{path}: must be a table, got {_toml_type(value)}")
                return _INVALID
            value_hint = typing.get_args(hint)[1]
            converted = {k: self.convert(v, value_hint, f"{path}.{k}") for k, v in value.items()}
            valid = {k: v for k, v in converted.items() if v is not _INVALID}
            return valid if partial or len(valid) == len(converted) else _INVALID
        try:
            return msgspec.convert(value, hint, strict=True, dec_hook=_decode_custom)
        except msgspec.ValidationError as exc:
            message, _, where = str(exc).partition(" - at `$")
            self.problems.append(f"{path}{where.rstrip('`')}: {_plain(message)}")
            return _INVALID

    def resolve_channel(
        self, raw: object, specs: dict[str, ConnectorSpec], path: str
    ) -> Channel | None:
        before = len(self.problems)
        values = self.decode_fields(ChannelConfig, raw, path, _CHANNEL_CHECKS)
        # The platform's own checks run on whatever converts, even when another field (or
        # another entry of the same table) is bad, so that the operator sees a misspelt
        # stream and a bad name in the same pass.
        fields = self.salvage(raw)
        raw_table: dict[str, Any] = raw if isinstance(raw, dict) else {}
        spec = None
        platform = fields.get("platform")
        if isinstance(platform, str):
            spec = specs.get(platform)
            if spec is None:
                known = ", ".join(sorted(specs)) or "none in this build"
                self.problems.append(
                    f'{path}.platform: unknown platform "{platform}", expected one of: {known}'
                )
        if spec is None:
            return None
        schedule = fields.get("schedule", {})
        for stream in _keys(raw_table.get("schedule")):
            if stream not in spec.stream_names:
                self.problems.append(
                    f"{path}.schedule.{stream}: unknown stream, expected one of: "
                    + ", ".join(spec.stream_names)
                )
            elif stream in schedule and schedule[stream].seconds <= 0:
                self.problems.append(f"{path}.schedule.{stream}: must be longer than 0s")
        for stream in _keys(raw_table.get("streams")):
            if stream not in spec.stream_names:
                self.problems.append(
                    f"{path}.streams.{stream}: unknown stream, expected one of: "
                    + ", ".join(spec.stream_names)
                )
        secrets: dict[str, Secret] = {}
        if isinstance(raw_table.get("credentials", {}), dict):  # else reported as not a table
            secrets = self.resolve_secrets(
                _keys(raw_table.get("credentials")), fields.get("credentials", {}), spec, path
            )
        settings = self.decode(spec.settings_type, fields.get("settings", {}), f"{path}.settings")
        if settings is not None and spec.origin is not None:
            try:
                spec.origin(settings)  # Channel.origin must not fail once the file is loaded
            except ValueError as exc:
                self.problems.append(f"{path}.settings: {exc}")
        if len(self.problems) != before or values is None or settings is None:
            return None
        return Channel(
            config=ChannelConfig(**values), spec=spec, settings=settings, secrets=secrets
        )

    def salvage(self, raw: object) -> dict[str, Any]:
        """The channel fields that convert cleanly, without reporting anything twice."""
        if not isinstance(raw, dict):
            return {}
        quiet = _Loader(self.environ)
        salvaged = {
            key: quiet.convert(raw[key], _CHANNEL_HINTS[key], key, partial=True)
            for key in ("platform", "schedule", "credentials", "settings")
            if key in raw
        }
        return {key: value for key, value in salvaged.items() if value is not _INVALID}

    def resolve_secrets(
        self,
        given: list[str],
        references: dict[str, CredentialRef],
        spec: ConnectorSpec,
        path: str,
    ) -> dict[str, Secret]:
        """Read the secrets ``references`` name and check their values with the platform's
        ``check_credentials``; ``given`` are all names the file lists, including those whose
        reference was malformed (and already reported)."""
        secrets: dict[str, Secret] = {}
        for name in spec.credentials:
            if name not in given:
                self.problems.append(f"{path}.credentials.{name}: required by {spec.platform}")
        for name in given:
            if name not in spec.credentials:
                self.problems.append(
                    f"{path}.credentials.{name}: unknown credential, expected one of: "
                    + (", ".join(spec.credentials) or "none")
                )
            elif name in references:
                try:
                    secrets[name] = references[name].resolve(self.environ)
                except ValueError as exc:
                    self.problems.append(f"{path}.credentials.{name}: {exc}")
        for name, problem in spec.check_credentials(secrets).items():
            self.problems.append(f"{path}.credentials.{name}: {problem}")
        return secrets

    def check_unique_names(self, raw_channels: list[Any]) -> None:
        first_index: dict[str, int] = {}
        for index, raw in enumerate(raw_channels):
            name = raw.get("name") if isinstance(raw, dict) else None
            if not isinstance(name, str):
                continue
            if name in first_index:
                self.problems.append(
                    f'channels[{index}].name: "{name}" is already used by '
                    f"channels[{first_index[name]}]"
                )
            else:
                first_index[name] = index


def _check_state(url: str) -> str | None:
    if url.startswith("postgresql://"):
        return "the PostgreSQL store is not available yet; use sqlite:///"
    if not url.startswith("sqlite:///") or url == "sqlite:///":
        return (
            f'expected "sqlite:///relative/path.db" or "sqlite:////absolute/path.db", got "{url}"'
        )
    return None


def _check_listen(address: str) -> str | None:
    match = _LISTEN.fullmatch(address)
    if match is None or not 0 <= int(match["port"]) < 65536:
        return f'expected "host:port" such as "{DEFAULT_LISTEN}", got "{address}"'
    return None


def _at_least(minimum: float) -> Callable[[float | Duration], str | None]:
    def check(value: float | Duration) -> str | None:
        number = value.seconds if isinstance(value, Duration) else value
        return None if number >= minimum else f"must be at least {minimum:g}"

    return check


def _positive(number: float) -> str | None:
    return None if number > 0 else "must be more than 0"


def _positive_duration(value: Duration) -> str | None:
    return None if value.seconds > 0 else "must be longer than 0s"


def _check_channel_name(name: str) -> str | None:
    if _CHANNEL_NAME.fullmatch(name):
        return None
    return f'must be letters and digits only, got "{name}"'


def _keys(table: object) -> list[str]:
    return list(table) if isinstance(table, dict) else []


_DAEMON_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "state": _check_state,
    "listen": _check_listen,
    "control_socket": lambda path: None if path else "must not be empty",
    "webhook_max_bytes": _at_least(1),
    "mailbox_size": _at_least(1),
    "request_timeout": _positive_duration,
    "max_restarts": _at_least(0),
    "audit_retention_days": _at_least(0),
    "restart_window": _positive_duration,
    "restart_backoff_max": _positive_duration,
}
_INVENTORY_CHECKS: dict[str, Callable[[Any], str | None]] = {"reconcile": _positive_duration}
_CHANNEL_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "name": _check_channel_name,
    "safety_threshold": _at_least(0),
    "review_threshold": _at_least(0),
    "retry_attempts": _at_least(1),
    "max_concurrent_requests": _at_least(1),
    "write_attempts": _at_least(1),
    "retry_backoff_max": _positive_duration,
    "requests_per_second": _positive,
    "burst": _positive,
}
_CHANNEL_HINTS = typing.get_type_hints(ChannelConfig)
_INVALID = object()


def _decode_custom(hint: type, value: object) -> object:
    if hint in (Duration, CredentialRef):
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {_toml_type(value)}")
        return hint(value)
    raise NotImplementedError(hint)


_TOML_NAMES = {
    "str": "string",
    "int": "integer",
    "bool": "boolean",
    "object": "table",
    "array": "array",
    "float": "float",
    "date": "date",
    "time": "time",
    "datetime": "date-time",
    "null": "nothing",
}


def _plain(message: str) -> str:
    """msgspec's wording ("Expected `int`, got `str`") in the config's own vocabulary."""
    message = re.sub(r"`(\w+)`", lambda m: _TOML_NAMES.get(m[1], m[1]), message)
    message = message.replace("Invalid enum value", "expected one of the documented values, got")
    return message[:1].lower() + message[1:]


def _toml_type(value: object) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a float"}
    names |= {dict: "a table", list: "an array"}
    return names.get(type(value), type(value).__name__)


__all__ = [
    "DEFAULT_LISTEN",
    "Bundle",
    "Channel",
    "ChannelConfig",
    "Config",
    "ConfigError",
    "DaemonConfig",
    "InventoryConfig",
    "OrdersConfig",
    "load_config",
]
