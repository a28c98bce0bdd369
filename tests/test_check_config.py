"""``shelfsync check-config`` and ``shelfsync run`` on bad configs, run as real subprocesses.

Each problem is one stdout line ``<path>: <problem>`` (0-based indices) and the exit code is 78
(EX_CONFIG), so that systemd does not restart-loop on a bad file.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from connectors.registry import BUILTIN

REPO = Path(__file__).resolve().parent.parent
SHELFSYNC = Path(sys.executable).with_name("shelfsync")
EX_CONFIG = 78
TOKEN = "fake-token-value-8c1d"
UNSET = "SHELFSYNC_TEST_NEVER_SET"
PLUGIN = '[daemon]\nplugins = ["tests.fakeplatform"]\n'
DURATION_MESSAGE = 'expected a duration such as "30s", "30m", "1h", "1d", got "{}"'
STATE_MESSAGE = 'expected "sqlite:///relative/path.db" or "sqlite:////absolute/path.db", got "{}"'
LISTEN_MESSAGE = 'expected "host:port" such as "127.0.0.1:8754", got "{}"'


def channel(name: str = "shop", token: str = "env:FAKE_TOKEN", extra: str = "") -> str:
    return (
        f'[[channels]]\nname = "{name}"\nplatform = "fake"\n'
        f'credentials = {{ token = "{token}" }}\n{extra}'
    )


def shelfsync(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("CREDENTIALS_DIRECTORY", UNSET)}
    environ |= {"PYTHONPATH": str(REPO), "FAKE_TOKEN": TOKEN} | (env or {})
    return subprocess.run(
        [str(SHELFSYNC), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def check_config(
    tmp_path: Path, text: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return shelfsync("check-config", "-c", str(path), cwd=tmp_path, env=env)


GOOD_WHSEC = "whsec_" + "c2hlbGZzeW5jLXdlYmhvb2stc2VjcmV0"
SHIPBOB = (
    '[[channels]]\nname = "fulfil"\nplatform = "shipbob"\n'
    'credentials = { token = "env:SB_TOKEN", webhook_secret = "env:SB_WHSEC" }\n'
    "[channels.settings]\nchannel_id = 4007\n"
)
SHOPIFY = (
    '[[channels]]\nname = "store"\nplatform = "shopify"\n'
    'credentials = { token = "env:SHOP_TOKEN", webhook_secret = "env:SHOP_HMAC" }\n'
    '[channels.settings]\nshop = "example.myshopify.com"\n'
    'location_id = "gid://shopify/Location/1"\n'
)


def platform_env(**bad: str) -> dict[str, str]:
    """Credentials that fit the ShipBob and Shopify channels above, but for ``bad``."""
    good = {
        "SB_TOKEN": "pat-4f1c9a",
        "SB_WHSEC": GOOD_WHSEC,
        "SHOP_TOKEN": "shpat_0d9e8f",
        "SHOP_HMAC": "hmac-7a6b5c",
    }
    return good | bad


def known(*plugins: str) -> str:
    """The platforms an unknown-platform message lists: the built-in ones plus ``plugins``."""
    return ", ".join(sorted({*BUILTIN, *plugins})) or "none in this build"


def case(id_: str, text: str, line: str, env: dict[str, str] | None = None) -> object:
    """A bad config (with the environment it is checked in, beyond ``FAKE_TOKEN``) and the one
    line check-config must print for it."""
    return pytest.param(text, line, env or {}, id=id_)


BAD_CONFIGS = [
    case(
        "channel-name",
        PLUGIN + channel("main") + channel("main store"),
        'channels[1].name: must be letters and digits only, got "main store"',
    ),
    case(
        "channel-name-empty",
        PLUGIN + channel(""),
        'channels[0].name: must be letters and digits only, got ""',
    ),
    case(
        "channel-name-missing",
        PLUGIN + '[[channels]]\nplatform = "fake"\ncredentials = { token = "env:FAKE_TOKEN" }\n',
        "channels[0].name: required",
    ),
    case(
        "duplicate-name",
        PLUGIN + channel("shop") + channel("other") + channel("shop"),
        'channels[2].name: "shop" is already used by channels[0]',
    ),
    case(
        "unknown-platform",
        PLUGIN + channel().replace('"fake"', '"shopfiy"'),
        'channels[0].platform: unknown platform "shopfiy", expected one of: ' + known("fake"),
    ),
    case(
        "unknown-platform-no-plugins",
        channel().replace('"fake"', '"shopfiy"'),
        'channels[0].platform: unknown platform "shopfiy", expected one of: ' + known(),
    ),
    case(
        "unknown-top-level-key",
        'colour = "red"\n' + PLUGIN,
        "colour: unknown section, expected [daemon], [inventory], [[channels]] or [[bundles]]",
    ),
    case("unknown-daemon-key", PLUGIN + "listen_port = 8754\n", "daemon.listen_port: unknown key"),
    case(
        "unknown-channel-key",
        PLUGIN + channel(extra="enable = false\n"),
        "channels[0].enable: unknown key",
    ),
    case(
        "daemon-not-a-table",
        "daemon = 1\n",
        "daemon: must be a table, got an integer",
    ),
    case(
        "channels-not-array-of-tables",
        PLUGIN + '[channels]\nname = "shop"\n',
        "channels: must be an array of tables ([[channels]])",
    ),
    case(
        "string-for-int",
        PLUGIN + 'mailbox_size = "64"\n',
        "daemon.mailbox_size: expected integer, got string",
    ),
    case(
        "int-for-string",
        PLUGIN + "listen = 8754\n",
        "daemon.listen: expected string, got integer",
    ),
    case(
        "string-for-bool",
        PLUGIN + channel(extra='enabled = "yes"\n'),
        "channels[0].enabled: expected boolean, got string",
    ),
    case(
        "int-for-channel-name",
        PLUGIN + channel().replace('name = "shop"', "name = 7"),
        "channels[0].name: expected string, got integer",
    ),
    case(
        "string-for-retry-attempts",
        PLUGIN + channel(extra='retry_attempts = "5"\n'),
        "channels[0].retry_attempts: expected integer, got string",
    ),
    case(
        "bad-log-level",
        PLUGIN + 'log_level = "verbose"\n',
        "daemon.log_level: expected one of the documented values, got 'verbose'",
    ),
    case(
        "bad-duration",
        PLUGIN + 'shutdown_grace = "10 seconds"\n',
        "daemon.shutdown_grace: " + DURATION_MESSAGE.format("10 seconds"),
    ),
    case(
        "duration-as-integer",
        PLUGIN + "shutdown_grace = 10\n",
        "daemon.shutdown_grace: expected a string, got an integer",
    ),
    case(
        "bad-duration-in-schedule",
        PLUGIN + channel(extra='schedule = { orders = "often" }\n'),
        "channels[0].schedule.orders: " + DURATION_MESSAGE.format("often"),
    ),
    case(
        "bad-channel-duration",
        PLUGIN + channel(extra='retry_backoff = "2 minutes"\n'),
        "channels[0].retry_backoff: " + DURATION_MESSAGE.format("2 minutes"),
    ),
    case(
        "zero-schedule",
        PLUGIN + channel(extra='schedule = { orders = "0s" }\n'),
        "channels[0].schedule.orders: must be longer than 0s",
    ),
    case(
        "zero-restart-window",
        PLUGIN + 'restart_window = "0s"\n',
        "daemon.restart_window: must be longer than 0s",
    ),
    case(
        "zero-retry-backoff-max",
        PLUGIN + channel(extra='retry_backoff_max = "0ms"\n'),
        "channels[0].retry_backoff_max: must be longer than 0s",
    ),
    case(
        "zero-retry-attempts",
        PLUGIN + channel(extra="retry_attempts = 0\n"),
        "channels[0].retry_attempts: must be at least 1",
    ),
    case(
        "zero-mailbox",
        PLUGIN + "mailbox_size = 0\n",
        "daemon.mailbox_size: must be at least 1",
    ),
    case(
        "negative-max-restarts",
        PLUGIN + "max_restarts = -1\n",
        "daemon.max_restarts: must be at least 0",
    ),
    case(
        "unknown-stream",
        PLUGIN + channel(extra='schedule = { invoices = "1h" }\n'),
        "channels[0].schedule.invoices: unknown stream, expected one of: products, orders",
    ),
    case(
        "missing-credential",
        PLUGIN + '[[channels]]\nname = "shop"\nplatform = "fake"\n',
        "channels[0].credentials.token: required by fake",
    ),
    case(
        "unknown-credential",
        PLUGIN + channel().replace("}", ', apikey = "env:FAKE_TOKEN" }'),
        "channels[0].credentials.apikey: unknown credential, expected one of: token",
    ),
    case(
        "inline-credential",
        PLUGIN + channel(token="sk_live_9f8e7d6c5b4a"),
        "channels[0].credentials.token: must be a reference (env:VAR, file:/path or "
        "credential:NAME); inline secrets are refused",
    ),
    case(
        "credential-not-a-string",
        PLUGIN + channel().replace('"env:FAKE_TOKEN"', "12345"),
        "channels[0].credentials.token: expected a string, got an integer",
    ),
    case(
        "env-var-unset",
        PLUGIN + channel(token=f"env:{UNSET}"),
        f"channels[0].credentials.token: environment variable {UNSET} is not set",
    ),
    case(
        "credentials-directory-unset",
        PLUGIN + channel(token="credential:shop-token"),
        "channels[0].credentials.token: credential:shop-token needs $CREDENTIALS_DIRECTORY "
        "(set by systemd's LoadCredential=)",
    ),
    case(
        "credential-file-missing",
        PLUGIN + channel(token="file:/nonexistent/shelfsync/token"),
        "channels[0].credentials.token: cannot read /nonexistent/shelfsync/token: "
        "No such file or directory",
    ),
    case(
        "listen-without-port",
        PLUGIN + 'listen = "localhost"\n',
        "daemon.listen: " + LISTEN_MESSAGE.format("localhost"),
    ),
    case(
        "listen-port-too-big",
        PLUGIN + 'listen = "127.0.0.1:65536"\n',
        "daemon.listen: " + LISTEN_MESSAGE.format("127.0.0.1:65536"),
    ),
    case(
        "listen-without-host",
        PLUGIN + 'listen = ":8754"\n',
        "daemon.listen: " + LISTEN_MESSAGE.format(":8754"),
    ),
    case(
        "listen-url",
        PLUGIN + 'listen = "http://127.0.0.1:8754"\n',
        "daemon.listen: " + LISTEN_MESSAGE.format("http://127.0.0.1:8754"),
    ),
    case(
        "state-other-database",
        PLUGIN + 'state = "mysql://db/shelfsync"\n',
        "daemon.state: " + STATE_MESSAGE.format("mysql://db/shelfsync"),
    ),
    case(
        "state-plain-path",
        PLUGIN + 'state = "shelfsync-state.db"\n',
        "daemon.state: " + STATE_MESSAGE.format("shelfsync-state.db"),
    ),
    case(
        "state-no-path",
        PLUGIN + 'state = "sqlite:///"\n',
        "daemon.state: " + STATE_MESSAGE.format("sqlite:///"),
    ),
    case(
        "state-postgresql",
        PLUGIN + 'state = "postgresql://db/shelfsync"\n',
        "daemon.state: the PostgreSQL store is not available yet; use sqlite:///",
    ),
    case(
        "empty-control-socket",
        PLUGIN + 'control_socket = ""\n',
        "daemon.control_socket: must not be empty",
    ),
    case(
        "plugin-not-importable",
        '[daemon]\nplugins = ["shelfsync_no_such_plugin"]\n',
        'daemon.plugins[0]: cannot import "shelfsync_no_such_plugin": '
        "ModuleNotFoundError: No module named 'shelfsync_no_such_plugin'",
    ),
    case(
        "plugin-without-connector",
        '[daemon]\nplugins = ["tests.fakeplatform", "json"]\n',
        'daemon.plugins[1]: "json" has no CONNECTOR of type ConnectorSpec',
    ),
    case(
        "plugin-not-a-string",
        '[daemon]\nplugins = ["tests.fakeplatform", 3]\n',
        "daemon.plugins[1]: expected string, got integer",
    ),
    case(
        "settings-field",
        PLUGIN + channel(extra='[channels.settings]\nrecords_per_read = "many"\n'),
        "channels[0].settings.records_per_read: expected integer, got string",
    ),
    case(
        "settings-unknown-key",
        PLUGIN + channel(extra="[channels.settings]\nrecords_per_page = 3\n"),
        "channels[0].settings.records_per_page: unknown key",
    ),
    case(
        "settings-not-a-table",
        PLUGIN + channel(extra='settings = "fast"\n'),
        "channels[0].settings: must be a table, got a string",
    ),
    case(
        "shipbob-webhook-secret-without-prefix",
        SHIPBOB,
        "channels[0].credentials.webhook_secret: must start with whsec_ "
        "(the secret ShipBob shows for the webhook subscription)",
        platform_env(SB_WHSEC=GOOD_WHSEC.removeprefix("whsec_")),
    ),
    case(
        "shipbob-webhook-secret-too-long",
        SHIPBOB,
        "channels[0].credentials.webhook_secret: must be whsec_ and 32 base64 characters, "
        "got 44 after whsec_",
        platform_env(SB_WHSEC="whsec_c2hlbGZzeW5jLXdlYmhvb2stc2VjcmV0LWxvbmdlcg=="),
    ),
    case(
        "shipbob-webhook-secret-url-safe-base64",
        SHIPBOB,
        "channels[0].credentials.webhook_secret: must be whsec_ and 32 base64 characters "
        "(A-Z, a-z, 0-9, + and /)",
        platform_env(SB_WHSEC="whsec_c2hlbGZzeW5jLXdlYmhvb2stc2Vj_-_-"),
    ),
    case(
        "shipbob-token-empty",
        SHIPBOB,
        "channels[0].credentials.token: is empty",
        platform_env(SB_TOKEN=""),
    ),
    case(
        "shopify-token-with-whitespace",
        SHOPIFY,
        "channels[0].credentials.token: contains whitespace (a space, tab or line break), "
        "which no such value holds",
        platform_env(SHOP_TOKEN="shpat_0d9e8f "),
    ),
    case(
        "shopify-webhook-secret-empty",
        PLUGIN + channel() + SHOPIFY,
        "channels[1].credentials.webhook_secret: is empty",
        platform_env(SHOP_HMAC=""),
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "env"),
    BAD_CONFIGS,
)
def test_bad_config_is_reported_by_path(
    tmp_path: Path, text: str, line: str, env: dict[str, str]
) -> None:
    result = check_config(tmp_path, text, env)
    assert result.returncode == EX_CONFIG, result
    assert result.stdout.splitlines() == [line]
    assert result.stderr == ""


def test_zero_schedule_is_rejected(tmp_path: Path) -> None:
    result = check_config(tmp_path, PLUGIN + channel(extra='schedule = { orders = "0s" }\n'))
    assert result.returncode == EX_CONFIG
    [line] = result.stdout.splitlines()
    assert line.startswith("channels[0].schedule")
    assert line.endswith("must be longer than 0s")
    assert "orders" in line


def test_inline_secret_never_printed(tmp_path: Path) -> None:
    result = check_config(tmp_path, PLUGIN + channel(token="sk_live_9f8e7d6c5b4a"))
    assert result.returncode == EX_CONFIG
    assert "sk_live_9f8e7d6c5b4a" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "bad",
    [
        {"SB_WHSEC": "whsec_c2hlbGZzeW5jLXdlYmhvb2stc2VjcmV0LWxvbmdlcg=="},
        {"SB_WHSEC": "c2hlbGZzeW5jLXdlYmhvb2stc2VjcmV0"},
        {"SB_WHSEC": "whsec_c2hlbGZzeW5jLXdlYmhvb2stc2Vj_-_-"},
        {"SB_TOKEN": "pat 4f1c9a"},
        {"SHOP_TOKEN": "Bearer shpat_0d9e8f"},
    ],
    ids=["whsec-long", "whsec-unprefixed", "whsec-url-safe", "shipbob-token", "shopify-token"],
)
def test_a_refused_credential_value_is_never_printed(tmp_path: Path, bad: dict[str, str]) -> None:
    [value] = bad.values()
    result = check_config(tmp_path, SHIPBOB + SHOPIFY, platform_env(**bad))
    assert result.returncode == EX_CONFIG, result
    output = result.stdout + result.stderr
    # Not even a fragment: no run of 5 characters of the value beyond the fixed whsec_ prefix.
    body = value.removeprefix("whsec_")
    assert [body[i : i + 5] for i in range(len(body) - 4) if body[i : i + 5] in output] == []


def test_credentials_that_fit_their_platforms_pass(tmp_path: Path) -> None:
    result = check_config(tmp_path, SHIPBOB + SHOPIFY, platform_env())
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")


def test_several_problems_are_printed_together(tmp_path: Path) -> None:
    text = (
        PLUGIN
        + 'listen = "localhost"\n'
        + channel("main")
        + channel("main store", extra='schedule = { invoices = "1h" }\n')
    )
    result = check_config(tmp_path, text)
    assert result.returncode == EX_CONFIG
    assert sorted(result.stdout.splitlines()) == sorted(
        [
            "daemon.listen: " + LISTEN_MESSAGE.format("localhost"),
            'channels[1].name: must be letters and digits only, got "main store"',
            "channels[1].schedule.invoices: unknown stream, expected one of: products, orders",
        ]
    )


# -- problems with the file itself -------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    result = shelfsync("check-config", "-c", str(path), cwd=tmp_path)
    assert result.returncode == EX_CONFIG
    assert result.stdout.splitlines() == [f"{path}: cannot read: No such file or directory"]


def test_directory_instead_of_file(tmp_path: Path) -> None:
    result = shelfsync("check-config", "-c", str(tmp_path), cwd=tmp_path)
    assert result.returncode == EX_CONFIG
    assert result.stdout.splitlines() == [f"{tmp_path}: cannot read: Is a directory"]


@pytest.mark.parametrize(
    "text", ["[daemon\n", '[daemon]\nlisten = "127.0.0.1:8754\n', "[daemon]\n[daemon]\n"]
)
def test_invalid_toml(tmp_path: Path, text: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as info:
        tomllib.loads(text)
    result = check_config(tmp_path, text)
    assert result.returncode == EX_CONFIG
    path = tmp_path / "config.toml"
    assert result.stdout.splitlines() == [f"{path}: not valid TOML: {info.value}"]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[daemon]\nlisten = "\xff"\n')
    with pytest.raises(UnicodeDecodeError) as info:
        path.read_bytes().decode("utf-8")
    result = shelfsync("check-config", "-c", str(path), cwd=tmp_path)
    assert result.returncode == EX_CONFIG
    assert result.stdout.splitlines() == [f"{path}: not valid TOML: {info.value}"]


# -- good configs -------------------------------------------------------------------------------


def test_good_config_prints_ok(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n", encoding="utf-8")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "outlet-token").write_text("from-systemd\n", encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(
        PLUGIN
        + f'state = "sqlite:///{tmp_path}/state.db"\ncontrol_socket = "{tmp_path}/ctl.sock"\n'
        + channel("main", extra='schedule = { orders = "30m", products = "6h" }\n')
        + channel(
            "web", token=f"file:{token_file}", extra="[channels.settings]\nrecords_per_read = 3\n"
        )
        + channel("outlet", token="credential:outlet-token", extra="enabled = false\n"),
        encoding="utf-8",
    )
    result = shelfsync(
        "check-config",
        "-c",
        str(path),
        cwd=tmp_path,
        env={"CREDENTIALS_DIRECTORY": str(credentials)},
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")
    # Checking starts nothing.
    assert not (tmp_path / "state.db").exists()
    assert not (tmp_path / "ctl.sock").exists()


@pytest.mark.parametrize("relative", ["config.example.toml", "contrib/systemd/config.toml"])
def test_shipped_configs_pass(tmp_path: Path, relative: str) -> None:
    result = shelfsync("check-config", "-c", str(REPO / relative), cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")
    assert list(tmp_path.iterdir()) == []


# -- run refuses a bad config before starting anything -------------------------------------------


def test_run_with_bad_config_exits_before_starting(tmp_path: Path) -> None:
    # Hold the configured port: a daemon that started anyway would fail to bind and exit 69
    # (EX_UNAVAILABLE) instead of hanging, and the state file would give it away.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        state = tmp_path / "state.db"
        control = tmp_path / "ctl.sock"
        path = tmp_path / "config.toml"
        path.write_text(
            PLUGIN
            + f'state = "sqlite:///{state}"\ncontrol_socket = "{control}"\n'
            + f'listen = "127.0.0.1:{port}"\n'
            + channel("main store"),
            encoding="utf-8",
        )
        result = shelfsync("run", "-c", str(path), cwd=tmp_path)

    assert result.returncode == EX_CONFIG, result
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        'config error: channels[0].name: must be letters and digits only, got "main store"'
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]
    assert not state.exists()
    assert not control.exists()


def test_run_with_missing_file_exits_78(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    result = shelfsync("run", "-c", str(path), cwd=tmp_path)
    assert result.returncode == EX_CONFIG
    assert result.stderr.splitlines() == [
        f"config error: {path}: cannot read: No such file or directory"
    ]
    assert list(tmp_path.iterdir()) == []


def test_audit_retention_and_write_attempts_are_checked(tmp_path: Path) -> None:
    text = (
        PLUGIN
        + "audit_retention_days = -1\n"
        + channel(extra="write_attempts = 0\n")
        + channel("other", extra='write_attempts = "many"\n')
    )
    result = check_config(tmp_path, text)
    assert result.returncode == EX_CONFIG
    assert result.stdout.splitlines() == [
        "daemon.audit_retention_days: must be at least 0",
        "channels[0].write_attempts: must be at least 1",
        "channels[1].write_attempts: expected integer, got string",
    ]
