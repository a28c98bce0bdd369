"""The ``shelfsync`` command line: ``run``, ``check-config`` and ``ctl``.

Exit codes follow sysexits(3) where one fits: 78 (EX_CONFIG) for a bad config, so that systemd
does not restart-loop on it; 69 (EX_UNAVAILABLE) when ``ctl`` finds no daemon; 1 when a control
request was refused.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

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
    _add_exceptions_verb(verbs)
    _add_audit_verb(verbs)
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


def _add_exceptions_verb(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    queue = verbs.add_parser("exceptions", help="the exception queue: list, show, replay, discard")
    actions = queue.add_subparsers(dest="action")
    listing = actions.add_parser("list", help="open exceptions, oldest first (the default)")
    listing.add_argument("--channel", help="only this channel's")
    listing.add_argument("--reason", help="only this reason")
    listing.add_argument("--all", action="store_true", help="closed ones too")
    actions.add_parser("show", help="every field, the payload pretty").add_argument("id", type=int)
    replay = actions.add_parser("replay", help="try one again, or every retryable one")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("id", type=int, nargs="?")
    which.add_argument("--all-retryable", action="store_true", help="every open retryable one")
    replay.add_argument("--channel", help="with --all-retryable: only this channel's")
    actions.add_parser("discard", help="close one without doing it").add_argument("id", type=int)


def _add_audit_verb(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = verbs.add_parser("audit", help="remote writes, holds, replays and discards")
    audit.add_argument("--channel", help="only this channel's")
    audit.add_argument("--entity", help="an order, shipment or SKU id, or an idempotency key")
    audit.add_argument(
        "--since",
        type=_since,
        help="an ISO date or time (UTC unless it says), or a duration back from now: 1h, 2d",
    )
    audit.add_argument("--limit", type=int, default=1000, help="the newest N (default 1000)")
    audit.add_argument("--jsonl", action="store_true", help="one JSON object a line, to export")


def _since(text: str) -> datetime:
    """``--since``: a duration back from now (``2h``), or a time (ISO 8601, UTC if naive)."""
    from daemon.durations import Duration

    with contextlib.suppress(ValueError):
        return datetime.now(UTC) - timedelta(seconds=Duration(text).seconds)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time or a duration: {text!r}") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


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
        channel=getattr(args, "channel", None),
        stream=getattr(args, "stream", None),
        orders=getattr(args, "orders", []),
        action=getattr(args, "action", None) or "list",
        exception_id=getattr(args, "id", None),
        all_retryable=getattr(args, "all_retryable", False),
        reason=getattr(args, "reason", None),
        include_resolved=getattr(args, "all", False),
        entity=getattr(args, "entity", None),
        since=getattr(args, "since", None),
        limit=getattr(args, "limit", 1000),
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
    elif args.verb == "exceptions" and response.ok and req.action in ("list", "show"):
        shown = format_exception if req.action == "show" else format_exceptions
        print(shown(response.exceptions))
    elif args.verb == "audit" and response.ok:
        print(format_audit(response.audit, jsonl=args.jsonl))
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
    return "\n".join([_table(rows), *notes])


def format_exceptions(entries: Sequence[object]) -> str:
    from daemon.control import ExceptionView

    rows = [("ID", "CHANNEL", "KIND", "REASON", "ENTITY", "ATTEMPTS", "LAST SEEN", "STATE")]
    for entry in entries:
        assert isinstance(entry, ExceptionView)
        rows.append(
            (
                str(entry.id),
                entry.channel,
                entry.kind,
                entry.reason + ("" if entry.retryable else " *"),
                entry.entity or "-",
                str(entry.attempts),
                _stamp(entry.last_seen),
                entry.resolution or "open",
            )
        )
    if len(rows) == 1:
        return "no exceptions"
    return _table(rows) + "\n* not retryable: replay it by its id"


def format_exception(entries: Sequence[object]) -> str:
    from daemon.control import ExceptionView

    [entry] = entries
    assert isinstance(entry, ExceptionView)
    fields = msgspec.structs.asdict(entry)
    payload = fields.pop("payload")
    lines = [f"{name}: {'-' if value is None else value}" for name, value in fields.items()]
    if bytes(payload) != b"null":
        pretty = msgspec.json.format(bytes(payload), indent=2).decode()
        lines += ["payload:", *("  " + line for line in pretty.splitlines())]
    return "\n".join(lines)


def format_audit(entries: Sequence[object], *, jsonl: bool) -> str:
    from daemon.store import AuditEntry

    if jsonl:
        return "\n".join(msgspec.json.encode(entry).decode() for entry in entries)
    rows = [("AT", "CHANNEL", "ACTION", "ENTITY", "KEY", "SUMMARY", "RESULT", "REMOTE ID")]
    for entry in entries:
        assert isinstance(entry, AuditEntry)
        rows.append(
            (
                _stamp(entry.at),
                entry.channel,
                entry.action,
                entry.entity or "-",
                entry.idempotency_key or "-",
                entry.summary,
                entry.result or "-",
                entry.remote_id or "-",
            )
        )
    return _table(rows) if len(rows) > 1 else "no audit entries"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


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
