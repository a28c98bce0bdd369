"""The ``shelfsync`` command line: ``run``, ``check-config`` and ``ctl``.

Exit codes follow sysexits(3) where one fits: 78 (EX_CONFIG) for a bad config, so that systemd
does not restart-loop on it; 69 (EX_UNAVAILABLE) when ``ctl`` finds no daemon; 1 when a control
request was refused.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

EX_OK = 0
EX_FAILED = 1
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_CONFIG = 78
DEFAULT_CONFIG = os.environ.get("SHELFSYNC_CONFIG", "/etc/shelfsync/config.toml")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(args.config)
    if args.command == "run":
        return run(args.config)
    if args.command == "sandbox":
        return sandbox(args)
    if args.command == "demo":
        return demo(args)
    return ctl(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shelfsync",
        description="Keep sales channels and a fulfillment provider in sync.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    config_help = f"config file (default: $SHELFSYNC_CONFIG or {DEFAULT_CONFIG})"
    run_parser = commands.add_parser("run", help="run the daemon in the foreground")
    run_parser.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=config_help)
    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=config_help)

    ctl_parser = commands.add_parser("ctl", help="talk to a running daemon")
    where = ctl_parser.add_mutually_exclusive_group()
    where.add_argument("--socket", help="the daemon's control socket")
    where.add_argument("-c", "--config", help="read the control socket's path from this config")
    ctl_parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    verbs = ctl_parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("status", help="one line per channel").add_argument("channel", nargs="?")
    for verb, text in (("pause", "pause"), ("resume", "resume"), ("sync", "force a sync of")):
        sub = verbs.add_parser(verb, help=f"{text} one channel, or all")
        sub.add_argument("channel", nargs="?")
        if verb == "sync":
            sub.add_argument("--stream", help="only this stream (default: every stream)")
    picked = verbs.add_parser("import", help="import chosen orders of one channel now")
    picked.add_argument("channel")
    picked.add_argument("orders", nargs="+", help="the store's order ids or order numbers")
    show = commands.add_parser(
        "demo", help="run every platform's sandbox and the daemon on loopback, play a shop"
    )
    show.add_argument("--duration", type=float, help="seconds of shopping, then the report")
    show.add_argument("--seed", type=int, default=1, help="same seed, same shop")
    show.add_argument("--rate", type=float, default=0.5, help="orders a second")
    show.add_argument("--no-view", action="store_true", help="no live view, only the report")
    box = commands.add_parser("sandbox", help="serve a platform's sandbox (a faithful fake)")
    box.add_argument("platform", help="bigcommerce, shipbob, shipstation, shopify or wix")
    box.add_argument("--host", default="127.0.0.1")
    box.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    box.add_argument("--seed", type=int, default=1, help="same seed, same generated data")
    box.add_argument("--catalog", type=int, default=50, help="variants in the generated catalog")
    box.add_argument(
        "--shared-catalog",
        action="store_true",
        help="seed the catalog all sandboxes share (same SKUs and stock), not the platform's own",
    )
    box.add_argument(
        "--rate-scale",
        type=float,
        default=1.0,
        help="multiply the platform's rate limits (load tests that are not about them)",
    )
    return parser


def sandbox(args: argparse.Namespace) -> int:
    from connectors.sandbox_server import SandboxOptions, serve_sandbox

    try:
        return serve_sandbox(
            args.platform,
            args.host,
            args.port,
            SandboxOptions(
                seed=args.seed,
                catalog=args.catalog,
                shared_catalog=args.shared_catalog,
                rate_scale=args.rate_scale,
            ),
        )
    except ValueError as exc:
        print(f"shelfsync sandbox: {exc}", file=sys.stderr)
        return EX_USAGE


def demo(args: argparse.Namespace) -> int:
    from daemon.demo import DemoOptions, run_demo

    options = DemoOptions(
        duration=args.duration,
        seed=args.seed,
        orders_per_second=args.rate,
        view=not args.no_view,
    )
    return run_demo(options)


def check_config(path: str) -> int:
    from daemon.config import ConfigError, load_config

    try:
        load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return EX_CONFIG
    print("ok")
    return EX_OK


def run(path: str) -> int:
    from daemon.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return EX_CONFIG

    import trio

    from daemon.app import Daemon
    from daemon.control import ControlError
    from daemon.exceptions import single_cause
    from daemon.logs import configure_logging
    from daemon.store import StoreError

    configure_logging(config.daemon.log_level)
    try:
        trio.run(Daemon(config).run)
    except BaseException as exc:
        # Start-up failures an operator must fix (a busy port, an unwritable state file, a
        # socket in use) arrive wrapped in the nursery's exception group.
        cause = single_cause(exc)
        if not isinstance(cause, StoreError | ControlError | OSError):
            raise
        print(f"shelfsync: cannot start: {cause}", file=sys.stderr)
        return EX_CONFIG if isinstance(cause, StoreError | ControlError) else EX_UNAVAILABLE
    return EX_OK


def ctl(args: argparse.Namespace) -> int:
    from daemon.control import ControlError, ControlRequest, request

    try:
        socket_path = args.socket or _socket_from_config(args.config or DEFAULT_CONFIG)
    except ValueError as exc:
        print(f"shelfsync ctl: {exc}", file=sys.stderr)
        return EX_CONFIG
    req = ControlRequest(
        verb=args.verb,
        channel=args.channel,
        stream=getattr(args, "stream", None),
        orders=getattr(args, "orders", []),
    )
    try:
        response = request(socket_path, req)
    except ControlError as exc:
        print(f"shelfsync ctl: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(response)).decode())
    elif args.verb == "status" and response.ok:
        print(format_status(response.channels))
    else:
        for line in response.lines:
            print(line)
    return EX_OK if response.ok else EX_FAILED


def _socket_from_config(path: str) -> str:
    """The control socket named in ``path``; only that key is read, so ``ctl`` works for users
    who may not read the daemon's credentials."""
    from daemon.config import DaemonConfig

    try:
        with open(path, "rb") as file:
            raw = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    configured = raw.get("daemon", {}).get("control_socket", DaemonConfig().control_socket)
    if not isinstance(configured, str):
        raise ValueError(f"{path}: daemon.control_socket must be a string")
    return configured


def format_status(channels: Sequence[object]) -> str:
    from daemon.control import ChannelStatus

    now = datetime.now(UTC)
    rows = [
        (
            "CHANNEL",
            "PLATFORM",
            "STATE",
            "PAUSED",
            "STREAM",
            "LAST SUCCESS",
            "LAG",
            "RESTARTS",
            "EXCEPTIONS",
        )
    ]
    notes: list[str] = []
    for channel in channels:
        assert isinstance(channel, ChannelStatus)
        streams = channel.streams or []
        for index, stream in enumerate(streams or [None]):
            first = index == 0
            rows.append(
                (
                    channel.channel if first else "",
                    channel.platform if first else "",
                    channel.state if first else "",
                    ("yes" if channel.paused else "no") if first else "",
                    stream.stream if stream else "-",
                    _ago(now, stream.last_success_at) if stream else "-",
                    _seconds(stream.cursor_lag_seconds) if stream else "-",
                    str(channel.restarts) if first else "",
                    str(channel.open_exceptions) if first else "",
                )
            )
        if channel.last_error:
            notes.append(f"{channel.channel}: last error: {channel.last_error}")
    if len(rows) == 1:
        return "no channels"
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines + notes)


def _ago(now: datetime, at: datetime | None) -> str:
    return "never" if at is None else f"{_seconds((now - at).total_seconds())} ago"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}s"


def _version() -> str:
    from daemon.app import shelfsync_version

    return shelfsync_version()


if __name__ == "__main__":
    sys.exit(main())
