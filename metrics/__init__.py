"""Prometheus metrics of the daemon, each in base units with a bounded ``channel`` label.

One :class:`Metrics` per daemon, on its own registry, so that several daemons (in tests) do not
share counters. Gauges that describe the current state of a channel (up, paused, mailbox depth,
cursor lag) are read at scrape time from a :class:`ChannelStateSource`, so they cannot go stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

API_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
PROPAGATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
SYNC_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class StreamGaugeState(msgspec.Struct, frozen=True):
    stream: str
    cursor_lag_seconds: float | None


class ChannelGaugeState(msgspec.Struct, frozen=True):
    channel: str
    up: bool
    paused: bool
    mailbox_depth: int
    streams: list[StreamGaugeState]


class ChannelStateSource(Protocol):
    def channel_gauges(self) -> Iterable[ChannelGaugeState]: ...


class Metrics:
    def __init__(self, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        build = Info("shelfsync_build", "Version of the running shelfsync.", registry=self.registry)
        build.info({"version": version})
        self.actor_restarts = Counter(
            "shelfsync_actor_restarts",
            "Times a channel actor was restarted after a crash.",
            ["channel"],
            registry=self.registry,
        )
        self.sync_runs = Counter(
            "shelfsync_sync_runs",
            "Sync runs by outcome (ok, failed).",
            ["channel", "stream", "outcome"],
            registry=self.registry,
        )
        self.sync_duration = Histogram(
            "shelfsync_sync_duration_seconds",
            "Duration of sync runs.",
            ["channel", "stream"],
            buckets=SYNC_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.last_sync_success = Gauge(
            "shelfsync_last_sync_success_timestamp_seconds",
            "Unix time of the last sync run that finished cleanly.",
            ["channel", "stream"],
            registry=self.registry,
        )
        self.exceptions_open = Gauge(
            "shelfsync_exceptions_open",
            "Open exceptions in the queue, waiting for an operator, by reason.",
            ["channel", "reason"],
            registry=self.registry,
        )
        self.webhooks = Counter(
            "shelfsync_webhooks_received",
            "Webhook deliveries by result (accepted, duplicate, rejected, invalid).",
            ["channel", "result"],
            registry=self.registry,
        )

        self.api_requests = Counter(
            "shelfsync_api_requests",
            "Requests made to a channel's platform, by HTTP status.",
            ["channel", "status"],
            registry=self.registry,
        )
        self.api_request_duration = Histogram(
            "shelfsync_api_request_duration_seconds",
            "Time from sending a request to a platform to its response headers.",
            ["channel"],
            buckets=API_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.rate_limit_remaining = Gauge(
            "shelfsync_rate_limit_remaining_ratio",
            "Share of the platform's rate budget left, as the platform last reported it.",
            ["channel"],
            registry=self.registry,
        )
        self.throttled = Counter(
            "shelfsync_throttled",
            "Calls the platform refused as over its rate limit.",
            ["channel"],
            registry=self.registry,
        )
        self.inventory_drift = Counter(
            "shelfsync_inventory_drift_units",
            "Units a store showed away from its target, found and corrected by a reconcile.",
            ["channel"],
            registry=self.registry,
        )
        self.propagation = Histogram(
            "shelfsync_propagation_seconds",
            "From a change that moves stock reaching the daemon to each store write it caused.",
            buckets=PROPAGATION_BUCKETS,
            registry=self.registry,
        )
        self.records_synced = Counter(
            "shelfsync_records_synced",
            "Records moved: read from a channel (in) or written to it (out).",
            ["channel", "stream", "direction"],
            registry=self.registry,
        )
        self.oversells = Counter(
            "shelfsync_oversells",
            "Orders held because they take a SKU below zero.",
            ["channel"],
            registry=self.registry,
        )
        self.orders_held = Gauge(
            "shelfsync_orders_held",
            "Store orders held, waiting for a configuration change or an operator.",
            ["channel", "reason"],
            registry=self.registry,
        )

    def watch(self, source: ChannelStateSource) -> None:
        """Serve the per-channel state gauges from ``source`` at every scrape."""
        self.registry.register(_ChannelStateCollector(source))

    def forget_channel(self, channel: str) -> None:
        """Drop the series of a channel removed from the config."""
        families = (
            self.actor_restarts,
            self.exceptions_open,
            self.sync_runs,
            self.sync_duration,
            self.last_sync_success,
            self.webhooks,
            self.api_requests,
            self.api_request_duration,
            self.rate_limit_remaining,
            self.throttled,
            self.records_synced,
            self.oversells,
            self.orders_held,
            self.inventory_drift,
        )
        for family in families:
            _remove_matching(family, {"channel": channel})


def _remove_matching(family: Counter | Gauge | Histogram, labels: dict[str, str]) -> None:
    names = family._labelnames
    # prometheus_client offers no "remove by partial label set"; walk its children instead.
    for values in list(family._metrics):
        if all(values[names.index(k)] == v for k, v in labels.items()):
            family.remove(*values)


class _ChannelStateCollector(Collector):
    def __init__(self, source: ChannelStateSource) -> None:
        self._source = source

    def describe(self) -> list[GaugeMetricFamily]:
        return list(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families(self._source.channel_gauges())

    def _families(self, states: Iterable[ChannelGaugeState] = ()) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "shelfsync_channel_up",
            "1 while the channel's actor runs, 0 otherwise.",
            labels=["channel"],
        )
        paused = GaugeMetricFamily(
            "shelfsync_channel_paused", "1 while the channel is paused.", labels=["channel"]
        )
        depth = GaugeMetricFamily(
            "shelfsync_mailbox_depth",
            "Messages waiting in the channel actor's mailbox.",
            labels=["channel"],
        )
        lag = GaugeMetricFamily(
            "shelfsync_cursor_lag_seconds",
            "How far behind now the stream's cursor (its newest synced change) is.",
            labels=["channel", "stream"],
        )
        for state in states:
            up.add_metric([state.channel], 1.0 if state.up else 0.0)
            paused.add_metric([state.channel], 1.0 if state.paused else 0.0)
            depth.add_metric([state.channel], float(state.mailbox_depth))
            for stream in state.streams:
                if stream.cursor_lag_seconds is not None:
                    lag.add_metric([state.channel, stream.stream], stream.cursor_lag_seconds)
        yield from (up, paused, depth, lag)
