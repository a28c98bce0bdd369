"""systemd's notify protocol (sd_notify(3)): READY, RELOADING, STOPPING, STATUS and WATCHDOG.

Outside systemd ($NOTIFY_SOCKET unset) every call does nothing, so the daemon runs the same
from a terminal.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger("shelfsync.systemd")


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # A leading "@" names a socket in the abstract namespace.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._watchdog_usec = 0
        self._warned = False
        pid = env.get("WATCHDOG_PID")
        if env.get("WATCHDOG_USEC", "").isdigit() and (pid is None or pid == str(os.getpid())):
            self._watchdog_usec = int(env["WATCHDOG_USEC"])

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half the configured timeout), or None."""
        return self._watchdog_usec / 2_000_000 if self._watchdog_usec else None

    def notify(self, *assignments: str) -> None:
        if not self._address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(assignments).encode(), self._address)
        except OSError as exc:
            # As sd_notify(3): a notification that cannot be sent is not the daemon's failure
            # (the variable may be inherited from a manager that is gone).
            if not self._warned:
                self._warned = True
                log.warning("notify_failed", socket=self._address, error=str(exc))

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        # MONOTONIC_USEC lets systemd (253+) match this reload to the one it asked for.
        self.notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def stopping(self) -> None:
        self.notify("STOPPING=1", "STATUS=stopping")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")
