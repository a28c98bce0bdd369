"""Unit tests of :func:`daemon.config.load_config` on real TOML files.

Channels use the connector double in ``tests/fakeplatform.py`` (platform ``fake``, streams
``products`` and ``orders``, one required credential ``token``), loaded as a plugin.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.registry import BUILTIN
from daemon.config import DEFAULT_LISTEN, Config, ConfigError, DaemonConfig, load_config
from daemon.credentials import CredentialRef, Secret
from daemon.durations import Duration
from tests.fakeplatform import CONNECTOR, FakeSettings

REPO = Path(__file__).resolve().parent.parent
PLUGIN = '[daemon]\nplugins = ["tests.fakeplatform"]\n'
TOKEN = "fake-token-value-8c1d"
ENV = {"FAKE_TOKEN": TOKEN}
DURATION_MESSAGE = 'expected a duration such as "30s", "30m", "1h", "1d", got "{}"'
INLINE_REFUSED = (
    "must be a reference (env:VAR, file:/path or credential:NAME); inline secrets are refused"
)


def channel(name: str = "shop", token: str = "env:FAKE_TOKEN", extra: str = "") -> str:
    return (
        f'[[channels]]\nname = "{name}"\nplatform = "fake"\n'
        f'credentials = {{ token = "{token}" }}\n{extra}'
    )


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), environ=ENV if environ is None else environ)


def problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, environ)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


# -- valid configs ------------------------------------------------------------------------------


def test_two_fake_channels_load(tmp_path: Path) -> None:
    text = (
        PLUGIN
        + 'listen = "0.0.0.0:9000"\nshutdown_grace = "1m"\n'
        + channel(
            "main",
            extra=(
                'paused = true\nschedule = { orders = "30m" }\nretry_attempts = 3\n'
                'retry_backoff = "500ms"\nretry_backoff_max = "1h30m"\n'
                "[channels.settings]\nrecords_per_read = 7\n"
            ),
        )
        + channel("outlet2", token="env:OUTLET_TOKEN")
    )
    path = write(tmp_path, text)

    config = load_config(path, environ={"FAKE_TOKEN": TOKEN, "OUTLET_TOKEN": "outlet-secret"})

    assert config.source == str(path)
    assert config.daemon.listen == "0.0.0.0:9000"
    assert config.daemon.shutdown_grace.seconds == 60
    assert config.daemon.plugins == ["tests.fakeplatform"]
    assert [c.name for c in config.channels] == ["main", "outlet2"]
    main, outlet = config.channels

    assert main.spec.platform == "fake"
    assert main.config.platform == "fake"
    assert main.config.paused is True
    assert main.config.enabled is True
    assert main.config.retry_attempts == 3
    assert main.config.retry_backoff.seconds == 0.5
    assert main.config.retry_backoff_max.seconds == 5400
    assert main.config.credentials == {"token": CredentialRef("env:FAKE_TOKEN")}
    assert main.secrets["token"].reveal() == TOKEN
    assert main.settings == FakeSettings(records_per_read=7)
    assert main.schedule_seconds("orders") == 1800
    assert main.schedule_seconds("products") == 3600  # the platform's default

    # The second channel leaves everything optional at the documented defaults.
    assert outlet.secrets["token"].reveal() == "outlet-secret"
    assert outlet.config.enabled is True
    assert outlet.config.paused is False
    assert outlet.config.schedule == {}
    assert outlet.config.retry_attempts == 5
    assert outlet.config.retry_backoff == Duration("1s")
    assert outlet.config.retry_backoff_max == Duration("2m")
    assert outlet.settings == FakeSettings()
    assert outlet.schedule_seconds("orders") == 1800
    assert config.enabled_channels == config.channels


def test_disabled_channel_is_loaded_but_not_enabled(tmp_path: Path) -> None:
    config = load(tmp_path, PLUGIN + channel("on") + channel("off", extra="enabled = false\n"))
    assert [c.name for c in config.channels] == ["on", "off"]
    assert [c.name for c in config.enabled_channels] == ["on"]


def test_daemon_defaults(tmp_path: Path) -> None:
    daemon = load(tmp_path, "").daemon
    assert daemon == DaemonConfig()
    assert daemon.listen == DEFAULT_LISTEN == "127.0.0.1:8754"
    assert daemon.state == "sqlite:///shelfsync-state.db"
    assert daemon.sqlite_synchronous == "full"
    assert daemon.control_socket == "shelfsync.sock"
    assert daemon.log_level == "info"
    assert daemon.shutdown_grace.seconds == 10
    assert daemon.webhook_max_bytes == 1_048_576
    assert daemon.mailbox_size == 64
    assert daemon.max_restarts == 5
    assert daemon.restart_window.seconds == 600
    assert daemon.restart_backoff.seconds == 1
    assert daemon.restart_backoff_max.seconds == 300
    assert daemon.plugins == []


EXAMPLE_DAEMON = tomllib.loads((REPO / "config.example.toml").read_text(encoding="utf-8"))["daemon"]


@pytest.mark.parametrize("key", sorted(EXAMPLE_DAEMON))
def test_defaults_match_config_example(tmp_path: Path, key: str) -> None:
    """config.example.toml documents each default by writing it out: the two must agree."""
    default = getattr(load(tmp_path, "").daemon, key)
    documented = EXAMPLE_DAEMON[key]
    if isinstance(default, Duration):
        assert default == Duration(documented)
    else:
        assert default == documented


def test_every_daemon_key_is_documented_in_config_example() -> None:
    assert set(EXAMPLE_DAEMON) == set(DaemonConfig.__struct_fields__)


@pytest.mark.parametrize(
    "listen", ["127.0.0.1:8754", "0.0.0.0:80", "localhost:65535", "[::1]:8754", "127.0.0.1:0"]
)
def test_listen_addresses_accepted(tmp_path: Path, listen: str) -> None:
    assert load(tmp_path, f'[daemon]\nlisten = "{listen}"\n').daemon.listen == listen


@pytest.mark.parametrize("text", ["", "[daemon]\n", PLUGIN], ids=["empty", "daemon", "plugin"])
def test_config_without_channels_is_valid(tmp_path: Path, text: str) -> None:
    config = load(tmp_path, text)
    assert config.channels == []
    assert config.enabled_channels == []


@pytest.mark.parametrize(
    "relative", ["config.example.toml", "contrib/systemd/config.toml"], ids=["example", "systemd"]
)
def test_shipped_configs_load(relative: str) -> None:
    config = load_config(REPO / relative, environ={})
    assert config.channels == []


# -- credentials --------------------------------------------------------------------------------


def test_env_credential_resolves(tmp_path: Path) -> None:
    config = load(tmp_path, PLUGIN + channel(token="env:SHOP_TOKEN"), {"SHOP_TOKEN": "s3cr3t"})
    assert config.channels[0].secrets == {"token": Secret("s3cr3t")}


def test_env_credential_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELFSYNC_TEST_PROCESS_TOKEN", "from-os-environ")
    path = write(tmp_path, PLUGIN + channel(token="env:SHELFSYNC_TEST_PROCESS_TOKEN"))
    assert load_config(path).channels[0].secrets["token"].reveal() == "from-os-environ"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("file-secret\n", "file-secret"),
        ("file-secret\r\n", "file-secret"),
        ("file-secret", "file-secret"),
        ("  spaced secret \n", "  spaced secret "),
        ("two\nlines\n", "two\nlines"),
    ],
)
def test_file_credential_resolves_without_trailing_newline(
    tmp_path: Path, content: str, expected: str
) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_bytes(content.encode())
    config = load(tmp_path, PLUGIN + channel(token=f"file:{secret_file}"))
    assert config.channels[0].secrets["token"].reveal() == expected


def test_systemd_credential_reads_credentials_directory(tmp_path: Path) -> None:
    directory = tmp_path / "creds"
    directory.mkdir()
    (directory / "shop-token").write_text("systemd-secret\n", encoding="utf-8")
    config = load(
        tmp_path,
        PLUGIN + channel(token="credential:shop-token"),
        {"CREDENTIALS_DIRECTORY": str(directory)},
    )
    assert config.channels[0].secrets["token"].reveal() == "systemd-secret"


def test_missing_env_variable(tmp_path: Path) -> None:
    assert problems(tmp_path, PLUGIN + channel(token="env:SHOP_TOKEN"), {}) == [
        "channels[0].credentials.token: environment variable SHOP_TOKEN is not set"
    ]


def test_missing_credential_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"
    assert problems(tmp_path, PLUGIN + channel(token=f"file:{missing}")) == [
        f"channels[0].credentials.token: cannot read {missing}: No such file or directory"
    ]


def test_credential_file_that_is_a_directory(tmp_path: Path) -> None:
    assert problems(tmp_path, PLUGIN + channel(token=f"file:{tmp_path}")) == [
        f"channels[0].credentials.token: cannot read {tmp_path}: Is a directory"
    ]


@pytest.mark.parametrize("environ", [{}, {"CREDENTIALS_DIRECTORY": ""}], ids=["unset", "empty"])
def test_systemd_credential_without_credentials_directory(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    assert problems(tmp_path, PLUGIN + channel(token="credential:shop-token"), environ) == [
        "channels[0].credentials.token: credential:shop-token needs $CREDENTIALS_DIRECTORY "
        "(set by systemd's LoadCredential=)"
    ]


def test_systemd_credential_missing_from_credentials_directory(tmp_path: Path) -> None:
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert problems(tmp_path, PLUGIN + channel(token="credential:shop-token"), environ) == [
        f"channels[0].credentials.token: cannot read {tmp_path / 'shop-token'}: "
        "No such file or directory"
    ]


SECRET = "sk_live_9f8e7d6c5b4a"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PLUGIN + channel(token=SECRET), [f"channels[0].credentials.token: {INLINE_REFUSED}"]),
        (
            PLUGIN + channel(token=f"Bearer {SECRET}"),
            [f"channels[0].credentials.token: {INLINE_REFUSED}"],
        ),
        (
            PLUGIN + channel(token="env:FAKE_TOKEN") + channel("other", token=SECRET),
            [f"channels[1].credentials.token: {INLINE_REFUSED}"],
        ),
        (
            # The platform is unknown, so the credential is only checked for its form.
            PLUGIN + channel(token=SECRET).replace('"fake"', '"nosuch"'),
            [
                f"channels[0].credentials.token: {INLINE_REFUSED}",
                'channels[0].platform: unknown platform "nosuch", expected one of: '
                + ", ".join(sorted({*BUILTIN, "fake"})),
            ],
        ),
        (
            PLUGIN + f'[[channels]]\nname = "shop"\nplatform = "fake"\ncredentials = "{SECRET}"\n',
            ["channels[0].credentials: must be a table, got a string"],
        ),
    ],
    ids=["bare", "bearer", "second-channel", "unknown-platform", "credentials-string"],
)
def test_inline_secret_is_refused_and_never_echoed(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    found = problems(tmp_path, text)
    assert found == expected
    assert not any(SECRET in problem for problem in found)


def test_inline_secret_never_echoed_in_a_file_with_other_problems(tmp_path: Path) -> None:
    text = PLUGIN + 'listen = "nowhere"\n' + channel("bad name", token=SECRET, extra="foo = 1\n")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert len(info.value.problems) == 4
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)


def test_secret_hides_its_value() -> None:
    secret = Secret("hunter2")
    assert secret.reveal() == "hunter2"
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", format(secret, "")):
        assert shown == "Secret('********')"
    assert "hunter2" not in repr([secret]) + repr({"token": secret}) + str((secret,))


def test_loaded_config_never_shows_resolved_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text("from-a-file-5e4d\n", encoding="utf-8")
    config = load(tmp_path, PLUGIN + channel("a") + channel("b", token=f"file:{secret_file}"))
    shown = repr(config) + str(config) + repr(config.channels) + repr(config.channels[0].secrets)
    print(config, config.channels[1])
    shown += capsys.readouterr().out
    assert TOKEN not in shown
    assert "from-a-file-5e4d" not in shown
    assert "Secret('********')" in shown


WHSEC = "whsec_" + "c2hlbGZzeW5jLXdlYmhvb2stc2VjcmV0"


def shipbob_channel(token: str, webhook_secret: str) -> str:
    return (
        '[[channels]]\nname = "fulfil"\nplatform = "shipbob"\n'
        f'credentials = {{ token = "{token}", webhook_secret = "{webhook_secret}" }}\n'
        "[channels.settings]\nchannel_id = 4007\n"
    )


def test_platform_checks_the_values_of_its_credentials(tmp_path: Path) -> None:
    pasted = tmp_path / "whsec"
    pasted.write_text(" " + WHSEC + "\n", encoding="utf-8")  # a stray space from the paste
    text = shipbob_channel(f"file:{tmp_path / 'token'}", f"file:{pasted}")
    (tmp_path / "token").write_text("\n", encoding="utf-8")
    assert problems(tmp_path, text, {}) == [
        "channels[0].credentials.token: is empty",
        "channels[0].credentials.webhook_secret: must start with whsec_ "
        "(the secret ShipBob shows for the webhook subscription)",
    ]


def test_credential_values_are_checked_alongside_every_other_problem(tmp_path: Path) -> None:
    text = shipbob_channel("env:SB_UNSET", "env:SB_WHSEC").replace("4007", '"4007"')
    assert problems(tmp_path, text, {"SB_WHSEC": WHSEC[:-1]}) == [
        "channels[0].credentials.token: environment variable SB_UNSET is not set",
        "channels[0].credentials.webhook_secret: must be whsec_ and 32 base64 characters, "
        "got 31 after whsec_",
        "channels[0].settings.channel_id: expected integer, got string",
    ]


def test_credentials_that_fit_load(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        shipbob_channel("env:SB_TOKEN", "env:SB_WHSEC"),
        {"SB_TOKEN": "pat-4f1c9a", "SB_WHSEC": WHSEC},
    )
    assert config.channels[0].secrets == {
        "token": Secret("pat-4f1c9a"),
        "webhook_secret": Secret(WHSEC),
    }


def shopify_channel(name: str, shop: str) -> str:
    return (
        f'[[channels]]\nname = "{name}"\nplatform = "shopify"\n'
        'credentials = { token = "env:SHOP_TOKEN", webhook_secret = "env:SHOP_HMAC" }\n'
        f'[channels.settings]\nshop = "{shop}"\nlocation_id = "gid://shopify/Location/1"\n'
    )


def test_a_storefront_channel_knows_its_store_and_a_fulfillment_channel_has_none(
    tmp_path: Path,
) -> None:
    text = (
        shopify_channel("main", "example.myshopify.com")
        + shopify_channel("renamed", "Example.MyShopify.com")
        + shipbob_channel("env:SHOP_TOKEN", "env:SB_WHSEC")
    )
    environ = {"SHOP_TOKEN": "shpat_0d9e8f", "SHOP_HMAC": "hmac-7a6b5c", "SB_WHSEC": WHSEC}
    main, renamed, fulfil = load(tmp_path, text, environ).channels
    # Known from the settings alone, without building a connector, and whatever the
    # channel's name or the domain's case in the file.
    assert main.origin == renamed.origin == "shopify:example.myshopify.com"
    assert fulfil.origin is None


def test_a_storefront_channel_must_name_its_store(tmp_path: Path) -> None:
    environ = {"SHOP_TOKEN": "shpat_0d9e8f", "SHOP_HMAC": "hmac-7a6b5c"}
    assert problems(tmp_path, shopify_channel("main", ""), environ) == [
        "channels[0].settings: names no shopify store (its id is empty)"
    ]


def test_constraints_a_platform_puts_on_its_settings_are_checked(tmp_path: Path) -> None:
    environ = {"SHOP_TOKEN": "shpat_0d9e8f", "SHOP_HMAC": "hmac-7a6b5c"}
    text = shopify_channel("main", "example.myshopify.com") + 'api_version = "2025-10"\n'
    [problem] = problems(tmp_path, text, environ)
    assert problem.startswith("channels[0].settings.api_version: expected string matching regex")


def test_relays_and_bundles_are_checked(tmp_path: Path) -> None:
    environ = {"SHOP_TOKEN": "shpat_0d9e8f", "SHOP_HMAC": "hmac-7a6b5c"}
    text = (
        shopify_channel("main", "example.myshopify.com").replace(
            "[channels.settings]", 'relays = "nosuch"\n[channels.settings]'
        )
        + '[[bundles]]\nsku = "KIT"\ncomponents = { "KIT" = 1, "A" = 0 }\n'
        + '[[bundles]]\nsku = "KIT"\ncomponents = { "B" = 2 }\n'
    )
    assert problems(tmp_path, text, environ) == [
        "bundles[0].components.KIT: a bundle cannot contain itself",
        "bundles[0].components.A: must be at least 1",
        'bundles[1].sku: "KIT" is already a bundle in bundles[0]',
        'channels[0].relays: "nosuch" is not another channel of this file',
    ]


def test_a_platform_credential_check_sees_only_what_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, str]] = []

    def check(secrets: Mapping[str, Secret]) -> dict[str, str]:
        seen.append({name: secret.reveal() for name, secret in secrets.items()})
        return {name: "is not what this platform issues" for name in secrets}

    spec = dataclasses.replace(
        CONNECTOR, platform="checked", credentials=("token", "key"), check_credentials=check
    )
    monkeypatch.setitem(BUILTIN, "checked", spec)
    text = (
        '[[channels]]\nname = "c"\nplatform = "checked"\n'
        'credentials = { token = "env:T", key = "env:K_UNSET" }\n'
    )
    assert problems(tmp_path, text, {"T": "t-value"}) == [
        "channels[0].credentials.key: environment variable K_UNSET is not set",
        "channels[0].credentials.token: is not what this platform issues",
    ]
    assert seen == [{"token": "t-value"}]


# -- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("1h30m", 5400),
        ("90m", 5400),
        ("1d", 86400),
        ("500ms", 0.5),
        ("30s", 30),
        ("12h", 43200),
        ("1d12h", 129600),
        ("1.5h", 5400),
        ("0s", 0),
    ],
)
def test_duration_parses(text: str, seconds: float) -> None:
    duration = Duration(text)
    assert duration.seconds == seconds
    assert str(duration) == text
    assert repr(duration) == f"Duration({text!r})"


def test_duration_equality_follows_seconds() -> None:
    assert Duration("90m") == Duration("1h30m") == Duration.of_seconds(5400)
    assert hash(Duration("90m")) == hash(Duration("1h30m"))
    assert Duration("1m") != Duration("1h")
    assert Duration("1m") != "1m"


def test_duration_equality_is_exact_for_milliseconds() -> None:
    assert Duration("700ms") == Duration("0.7s")


@pytest.mark.parametrize(
    "text",
    ["", "30", "1.5", "h", "1 h", "30 m", " 30m", "30m ", "1H", "1w", "-1s", "1h30", "1e3s", ".5s"],
)
def test_bad_duration_is_rejected(text: str) -> None:
    with pytest.raises(ValueError) as info:
        Duration(text)
    assert str(info.value) == DURATION_MESSAGE.format(text)


# Exactness holds while the total fits a float's 53-bit mantissa; 10**9 hours is far beyond
# any interval a config could mean.
@given(
    h=st.integers(min_value=0, max_value=10**9),
    m=st.integers(min_value=0, max_value=10**9),
    s=st.integers(min_value=0, max_value=10**9),
)
def test_duration_parts_add_up(h: int, m: int, s: int) -> None:
    assert Duration(f"{h}h{m}m{s}s").seconds == h * 3600 + m * 60 + s


def test_bad_durations_in_the_config_name_their_field(tmp_path: Path) -> None:
    text = (
        PLUGIN
        + 'shutdown_grace = "10 seconds"\nrestart_backoff = 5\n'
        + channel(extra='schedule = { orders = "often" }\nretry_backoff = "1w"\n')
    )
    assert sorted(problems(tmp_path, text)) == sorted(
        [
            "daemon.shutdown_grace: " + DURATION_MESSAGE.format("10 seconds"),
            "daemon.restart_backoff: expected a string, got an integer",
            "channels[0].schedule.orders: " + DURATION_MESSAGE.format("often"),
            "channels[0].retry_backoff: " + DURATION_MESSAGE.format("1w"),
        ]
    )


# -- every problem at once ----------------------------------------------------------------------


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        "colour = 1\n"
        '[daemon]\nplugins = ["tests.fakeplatform", "shelfsync_no_such_plugin"]\n'
        'listen = "localhost"\nstate = "mysql://db"\nmailbox_size = "64"\nbogus = true\n'
        'log_level = "verbose"\n'
        + channel("main store", extra='schedule = { invoices = "1h" }\nretry_attempts = 0\n')
        + channel("main store", token="env:UNSET_TOKEN")
        + '[[channels]]\nname = "x"\nplatform = "nosuch"\n'
        + channel("ok", extra="[channels.settings]\nrecords_per_read = true\nextra = 1\n")
    )
    assert sorted(problems(tmp_path, text)) == sorted(
        [
            "colour: unknown section, expected [daemon], [inventory], [[channels]] or [[bundles]]",
            "daemon.bogus: unknown key",
            'daemon.state: expected "sqlite:///relative/path.db" or '
            '"sqlite:////absolute/path.db", got "mysql://db"',
            'daemon.listen: expected "host:port" such as "127.0.0.1:8754", got "localhost"',
            "daemon.log_level: expected one of the documented values, got 'verbose'",
            "daemon.mailbox_size: expected integer, got string",
            'daemon.plugins[1]: cannot import "shelfsync_no_such_plugin": '
            "ModuleNotFoundError: No module named 'shelfsync_no_such_plugin'",
            'channels[0].name: must be letters and digits only, got "main store"',
            "channels[0].retry_attempts: must be at least 1",
            "channels[0].schedule.invoices: unknown stream, expected one of: products, orders",
            'channels[1].name: must be letters and digits only, got "main store"',
            "channels[1].credentials.token: environment variable UNSET_TOKEN is not set",
            'channels[1].name: "main store" is already used by channels[0]',
            'channels[2].platform: unknown platform "nosuch", expected one of: '
            + ", ".join(sorted({*BUILTIN, "fake"})),
            "channels[3].settings.records_per_read: expected integer, got boolean",
            "channels[3].settings.extra: unknown key",
        ]
    )


def test_bad_daemon_table_does_not_hide_channel_problems(tmp_path: Path) -> None:
    text = PLUGIN + "mailbox_size = 0\n" + channel(extra='schedule = { invoices = "1h" }\n')
    assert problems(tmp_path, text) == [
        "daemon.mailbox_size: must be at least 1",
        "channels[0].schedule.invoices: unknown stream, expected one of: products, orders",
    ]


def test_bad_schedule_duration_does_not_hide_unknown_stream(tmp_path: Path) -> None:
    text = PLUGIN + channel(extra='schedule = { orders = "often", invoices = "1h" }\n')
    assert sorted(problems(tmp_path, text)) == sorted(
        [
            "channels[0].schedule.orders: " + DURATION_MESSAGE.format("often"),
            "channels[0].schedule.invoices: unknown stream, expected one of: products, orders",
        ]
    )


def test_bad_credential_reference_does_not_hide_missing_credential(tmp_path: Path) -> None:
    text = PLUGIN + '[[channels]]\nname = "shop"\nplatform = "fake"\n'
    text += f'credentials = {{ tokne = "{SECRET}" }}\n'
    found = problems(tmp_path, text)
    assert f"channels[0].credentials.tokne: {INLINE_REFUSED}" in found
    assert "channels[0].credentials.token: required by fake" in found


def test_type_problems_use_toml_vocabulary(tmp_path: Path) -> None:
    text = (
        "[daemon]\nmailbox_size = 1.5\nmax_restarts = { n = 1 }\nwebhook_max_bytes = [1]\n"
        'listen = 1979-05-27\nplugins = "tests.fakeplatform"\n'
    )
    found = problems(tmp_path, text)
    assert len(found) == 5
    for problem in found:
        assert "`" not in problem
        assert "object" not in problem


class PickySettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    low: int = 0
    high: int = 1

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError("low must not exceed high")


def test_a_settings_check_across_fields_is_a_problem_line_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = dataclasses.replace(CONNECTOR, platform="picky", settings_type=PickySettings)
    monkeypatch.setitem(BUILTIN, "picky", spec)  # a platform whose settings check themselves
    path = tmp_path / "picky.toml"
    path.write_text(
        '[[channels]]\nname = "p"\nplatform = "picky"\n'
        'credentials = { token = "env:T" }\nsettings = { low = 5, high = 2 }\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"T": "secret-value"})
    assert caught.value.problems == ["channels[0].settings: low must not exceed high"]


def test_a_channel_paces_at_its_platforms_limit_unless_told_otherwise(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        PLUGIN + channel("plain") + channel("raised", extra="requests_per_second = 12.5\n"),
    )
    plain, raised = config.channels
    assert (plain.requests_per_second, plain.burst) == (
        CONNECTOR.requests_per_second,
        CONNECTOR.burst,
    )
    assert (raised.requests_per_second, raised.burst) == (12.5, CONNECTOR.burst)


def test_pace_and_request_timeout_must_be_positive(tmp_path: Path) -> None:
    text = PLUGIN.replace("]\n", ']\nrequest_timeout = "0s"\n', 1)
    text += channel(extra="requests_per_second = 0\nburst = -1\n")
    assert problems(tmp_path, text) == [
        "daemon.request_timeout: must be longer than 0s",
        "channels[0].requests_per_second: must be more than 0",
        "channels[0].burst: must be more than 0",
    ]
