"""The real ``shelfsync`` command run as a child process, and the means to watch it.

The daemon's JSON log lines on stdout are the synchronisation points: a test waits for the
event it expects (``serving``, ``sync_done``, ``reload_rejected``...) instead of sleeping.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import trio

from tests.helpers import REPO_ROOT, TOKEN

SHELFSYNC = str(Path(sys.executable).with_name("shelfsync"))
EVENT_TIMEOUT = 20.0  # a bound on failure, never a synchronisation


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["FAKE_TOKEN"] = TOKEN
    env.update(extra)
    return env


class DaemonProcess:
    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self.lines: list[str] = []
        self._buffer = b""
        self.url = ""

    @classmethod
    async def start(
        cls,
        config: Path,
        *,
        environ: Mapping[str, str] | None = None,
        timeout: float = EVENT_TIMEOUT,
    ) -> DaemonProcess:
        """Run ``shelfsync run -c config`` with ``environ`` added to its environment, and
        return once it logged ``serving`` (at most ``timeout`` seconds)."""
        process = await trio.lowlevel.open_process(
            [SHELFSYNC, "run", "-c", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=child_env(**(environ or {})),
            cwd=config.parent,
        )
        daemon = cls(process)
        serving = await daemon.wait_for("serving", timeout=timeout)
        daemon.url = serving["listen"][0]
        return daemon

    async def wait_for(
        self, event: str, *, timeout: float = EVENT_TIMEOUT, **fields: Any
    ) -> dict[str, Any]:
        """The first log event named ``event`` with ``fields`` not yet consumed by a wait."""
        with trio.fail_after(timeout):
            while True:
                for index, line in enumerate(self.events):
                    if line.get("event") == event and all(
                        line.get(k) == v for k, v in fields.items()
                    ):
                        del self.events[index]
                        return line
                await self._read_more()

    async def follow(self) -> None:
        """Read the output as it comes until the process closes it: a caller that waits for
        no event must still read, or the pipe fills and the daemon blocks on its next log."""
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.receive_some(65536):
            self._take(chunk)

    async def _read_more(self) -> None:
        assert self.process.stdout is not None
        chunk = await self.process.stdout.receive_some(65536)
        if not chunk:
            raise AssertionError(
                f"daemon exited ({self.process.poll()}) while awaited; output:\n"
                + "\n".join(self.lines)
            )
        self._take(chunk)

    def _take(self, chunk: bytes | bytearray) -> None:
        self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\n")
        for raw in complete:
            text = raw.decode()
            self.lines.append(text)
            try:
                self.events.append(json.loads(text))
            except json.JSONDecodeError:
                self.events.append({"event": None, "text": text})

    async def drain(self) -> None:
        """Read everything left on stdout (after the process exits)."""
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.receive_some(65536):
            self._buffer += chunk
        self.lines += [line.decode() for line in self._buffer.split(b"\n") if line]
        self._buffer = b""

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    async def stop(self, timeout: float = EVENT_TIMEOUT) -> int:
        if self.process.returncode is None:
            self.signal(signal.SIGTERM)
        with trio.fail_after(timeout):
            await self.drain()
            return await self.process.wait()

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


async def ctl(socket: Path, *args: str) -> tuple[int, str]:
    """Run ``shelfsync ctl --socket SOCKET ARGS...`` and return its exit code and output."""
    result = await trio.run_process(
        [SHELFSYNC, "ctl", "--socket", str(socket), *args],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=child_env(),
    )
    return result.returncode, (result.stdout + result.stderr).decode()


async def ctl_json(socket: Path, *args: str) -> dict[str, Any]:
    code, output = await ctl(socket, "--json", *args)
    assert code == 0, output
    answer: dict[str, Any] = json.loads(output)
    return answer
