"""daemon.systemd.Notifier against a real notify socket, and the shipped systemd unit."""

from __future__ import annotations

import configparser
import os
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from daemon.systemd import Notifier

UNIT = Path(__file__).resolve().parent.parent / "contrib" / "systemd" / "shelfsync.service"


class NotifySocket(NamedTuple):
    sock: socket.socket
    env_value: str  # what systemd would put in $NOTIFY_SOCKET

    def receive(self) -> dict[str, str]:
        """One datagram, as its KEY=VALUE lines (fails after 2s rather than hanging)."""
        data = self.sock.recv(4096)
        lines = data.decode().split("\n")
        assert all("=" in line for line in lines), data
        pairs = [line.split("=", 1) for line in lines]
        assert len({key for key, _ in pairs}) == len(pairs), f"duplicate keys in {data!r}"
        return dict(pairs)

    def assert_empty(self) -> None:
        # Datagrams on a Unix socket are queued by sendto() itself, so nothing pending now
        # means nothing was sent.
        self.sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            self.sock.recv(4096)


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NotifySocket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with sock:
        if request.param == "path":
            path = tmp_path / "notify.sock"
            sock.bind(str(path))
            env_value = str(path)
        else:
            name = f"shelfsync-test-{secrets.token_hex(8)}"
            sock.bind("\0" + name)
            env_value = "@" + name
        sock.settimeout(2.0)
        yield NotifySocket(sock, env_value)


def notifier_for(notify: NotifySocket, **extra: str) -> Notifier:
    return Notifier(environ={"NOTIFY_SOCKET": notify.env_value, **extra})


# -- messages ------------------------------------------------------------------------------------


def test_ready_sends_ready_and_status(notify_socket: NotifySocket) -> None:
    notifier_for(notify_socket).ready("2 of 3 channels running")

    assert notify_socket.receive() == {"READY": "1", "STATUS": "2 of 3 channels running"}
    notify_socket.assert_empty()


def test_ready_datagram_is_exactly_the_assignments(notify_socket: NotifySocket) -> None:
    notifier_for(notify_socket).ready("serving")

    assert notify_socket.sock.recv(4096) == b"READY=1\nSTATUS=serving"


def test_reloading_sends_monotonic_timestamp(notify_socket: NotifySocket) -> None:
    before = time.monotonic_ns() // 1000
    notifier_for(notify_socket).reloading()
    after = time.monotonic_ns() // 1000

    message = notify_socket.receive()
    assert set(message) == {"RELOADING", "MONOTONIC_USEC"}
    assert message["RELOADING"] == "1"
    assert message["MONOTONIC_USEC"].isdigit()
    assert before <= int(message["MONOTONIC_USEC"]) <= after


def test_stopping(notify_socket: NotifySocket) -> None:
    notifier_for(notify_socket).stopping()

    message = notify_socket.receive()
    assert message["STOPPING"] == "1"
    assert set(message) <= {"STOPPING", "STATUS"}


def test_status(notify_socket: NotifySocket) -> None:
    notifier_for(notify_socket).status("reload rejected, old config kept")

    assert notify_socket.receive() == {"STATUS": "reload rejected, old config kept"}


def test_watchdog(notify_socket: NotifySocket) -> None:
    notifier_for(notify_socket).watchdog()

    assert notify_socket.receive() == {"WATCHDOG": "1"}


def test_one_datagram_per_call_in_order(notify_socket: NotifySocket) -> None:
    notifier = notifier_for(notify_socket)
    notifier.ready("up")
    notifier.watchdog()
    notifier.stopping()

    assert notify_socket.receive()["READY"] == "1"
    assert notify_socket.receive() == {"WATCHDOG": "1"}
    assert notify_socket.receive()["STOPPING"] == "1"
    notify_socket.assert_empty()


def test_no_notify_socket_sends_nothing_and_never_raises(notify_socket: NotifySocket) -> None:
    for environ in ({}, {"NOTIFY_SOCKET": ""}):
        notifier = Notifier(environ=environ)
        notifier.ready("up")
        notifier.reloading()
        notifier.status("x")
        notifier.watchdog()
        notifier.stopping()
        notifier.notify("READY=1")

    notify_socket.assert_empty()


def test_each_notifier_reads_only_its_own_environ(
    notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.env_value)

    Notifier(environ={}).ready("not sent")

    notify_socket.assert_empty()


# -- watchdog interval ---------------------------------------------------------------------------


def test_watchdog_interval_is_half_the_timeout() -> None:
    notifier = Notifier(environ={"WATCHDOG_USEC": "60000000"})

    assert notifier.watchdog_interval == pytest.approx(30.0)


def test_watchdog_interval_for_this_pid() -> None:
    environ = {"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}

    assert Notifier(environ=environ).watchdog_interval == pytest.approx(1.5)


def test_watchdog_interval_none_for_another_pid() -> None:
    environ = {"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid() + 1)}

    assert Notifier(environ=environ).watchdog_interval is None


@pytest.mark.parametrize("usec", [None, "", "0", "abc", "-5", "1.5"])
def test_watchdog_interval_none_when_unset_or_unusable(usec: str | None) -> None:
    environ = {} if usec is None else {"WATCHDOG_USEC": usec}

    assert Notifier(environ=environ).watchdog_interval is None


def test_watchdog_interval_does_not_need_notify_socket(notify_socket: NotifySocket) -> None:
    # The interval comes from the environment alone; pinging still needs the socket.
    with_socket = notifier_for(notify_socket, WATCHDOG_USEC="10000000")
    without = Notifier(environ={"WATCHDOG_USEC": "10000000"})

    assert with_socket.watchdog_interval == without.watchdog_interval == pytest.approx(5.0)
    without.watchdog()
    notify_socket.assert_empty()


# -- the shipped unit ----------------------------------------------------------------------------


def load_unit() -> configparser.ConfigParser:
    # systemd allows a key more than once (ExecStart=, LoadCredential=, ...): strict=False
    # keeps the last, which is enough for the single-valued keys checked here.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def test_unit_is_a_hardened_notify_service() -> None:
    service = load_unit()["Service"]

    assert service["Type"] == "notify"
    assert service["Restart"] == "on-failure"
    assert "78" in service["RestartPreventExitStatus"].split()
    assert service.get("WatchdogSec")
    assert "-HUP" in service["ExecReload"]
    assert " run " in service["ExecStart"] + " "
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes"
    assert service.get("DynamicUser") == "yes" or service.get("User")
    assert service["StateDirectory"] == "shelfsync"
    assert service["RuntimeDirectory"] == "shelfsync"
    assert service["WorkingDirectory"] == "%S/shelfsync"
    assert service["CapabilityBoundingSet"] == ""
    for key in ("ProtectHome", "PrivateTmp", "PrivateDevices", "RestrictNamespaces"):
        assert service[key] == "yes", key


def test_unit_is_installable() -> None:
    assert load_unit()["Install"]["WantedBy"] == "multi-user.target"
