"""The state store's schema, as an append-only list of migrations.

Migration ``n`` (1-based) takes a database from version ``n - 1`` to ``n``. Never edit a
migration that has shipped: append a new one. Later features add their tables the same way.
"""

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE cursors (
        channel TEXT NOT NULL,
        stream TEXT NOT NULL,
        value TEXT,                -- replication value reached (ISO-8601), NULL = from the start
        last_success_at TEXT,      -- when a run of this stream last finished cleanly
        PRIMARY KEY (channel, stream)
    );
    CREATE TABLE channel_flags (
        channel TEXT PRIMARY KEY,
        paused INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE seen_webhooks (
        channel TEXT NOT NULL,
        webhook_id TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (channel, webhook_id)
    );
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('webhook', 'poll')),
        stream TEXT,
        topic TEXT NOT NULL,       -- webhook topic, or the stream for polled records
        entity TEXT,               -- the platform's id of the changed entity, when known
        body BLOB NOT NULL,
        received_at TEXT NOT NULL,
        processed_at TEXT
    );
    CREATE INDEX inbox_pending ON inbox (channel, processed_at, id);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        payload BLOB NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        done_at TEXT,
        remote_id TEXT,
        UNIQUE (channel, idempotency_key)
    );
    CREATE INDEX outbox_pending ON outbox (channel, done_at, id);
    CREATE TABLE exceptions (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        stream TEXT,
        entity TEXT,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        payload BLOB,
        attempts INTEGER NOT NULL DEFAULT 1,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        resolved_at TEXT
    );
    CREATE INDEX exceptions_open ON exceptions (channel, resolved_at);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        channel TEXT NOT NULL,
        action TEXT NOT NULL,      -- e.g. write.started, write.done, write.failed, hold
        entity TEXT,
        idempotency_key TEXT,
        summary TEXT NOT NULL,
        result TEXT,
        remote_id TEXT
    );
    CREATE INDEX audit_by_channel ON audit (channel, at);
    """,
    """
    ALTER TABLE inbox ADD COLUMN updated_at TEXT;  -- a polled record's replication value
    ALTER TABLE outbox ADD COLUMN caused_at TEXT;  -- when the change that asked for it arrived
    CREATE TABLE store_orders (    -- the hub's decision about every store order it has seen
        origin TEXT NOT NULL,
        store_order_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('imported', 'held', 'skipped', 'cancelled')),
        reason TEXT,
        detail TEXT,
        body BLOB NOT NULL,        -- the canonical order as last decided (JSON)
        updated_at TEXT NOT NULL,  -- that version's own update time: older ones are ignored
        PRIMARY KEY (origin, store_order_id)
    );
    CREATE TABLE reservations (    -- units of imported orders the provider has not counted yet
        origin TEXT NOT NULL,
        store_order_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        write_channel TEXT NOT NULL,  -- the outbox entry that creates the fulfillment order
        write_key TEXT NOT NULL,
        PRIMARY KEY (origin, store_order_id, sku)
    );
    CREATE TABLE stock (           -- the fulfillment provider's counts, as last read
        sku TEXT NOT NULL,
        location TEXT NOT NULL,
        fulfillable INTEGER NOT NULL,
        exception INTEGER NOT NULL,
        read_at TEXT NOT NULL,
        PRIMARY KEY (sku, location)
    );
    CREATE TABLE pushed (          -- the quantity last queued for each store, per SKU
        channel TEXT NOT NULL,
        sku TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (channel, sku)
    );
    CREATE TABLE catalog (         -- SKUs the fulfillment provider has (seen or created)
        sku TEXT PRIMARY KEY,
        added_at TEXT NOT NULL
    );
    """,
    """
    -- A webhook's streams to re-read (a JSON array): one event may change several. Polled
    -- records keep theirs in stream, which webhooks no longer fill.
    ALTER TABLE inbox ADD COLUMN streams TEXT;
    UPDATE inbox SET streams = '[]' WHERE source = 'webhook' AND stream IS NULL;
    UPDATE inbox SET streams = '["' || stream || '"]', stream = NULL
        WHERE source = 'webhook' AND stream IS NOT NULL;
    """,
    """
    CREATE TABLE product_digests (  -- the travelling fields of a store's item, as last seen
        channel TEXT NOT NULL,
        sku TEXT NOT NULL,
        digest TEXT NOT NULL,
        revision INTEGER NOT NULL,  -- how many times that channel's item has changed
        at TEXT NOT NULL,
        PRIMARY KEY (channel, sku)
    );
    CREATE TABLE provider_bundles (  -- bundles the fulfillment provider declares
        sku TEXT PRIMARY KEY,
        components BLOB NOT NULL,  -- JSON list of {sku, quantity}
        at TEXT NOT NULL
    );
    """,
    """
    ALTER TABLE exceptions ADD COLUMN kind TEXT NOT NULL DEFAULT 'record';
    ALTER TABLE exceptions ADD COLUMN resolution TEXT;  -- replayed, discarded, resolved
    UPDATE exceptions SET kind = CASE
        WHEN reason = 'review_threshold' THEN 'sku'
        WHEN stream = 'orders' AND reason IN ('unmapped_ship_method', 'inactive_ship_method',
            'unknown_sku', 'no_fulfillment_provider', 'oversell') THEN 'order'
        -- A write's exception is under its idempotency key; shelfsync's stock writes are keyed
        -- stock:<uuid>. Any other exception of no stream was a webhook's.
        WHEN stream IS NULL AND EXISTS (SELECT 1 FROM outbox WHERE outbox.channel =
            exceptions.channel AND outbox.idempotency_key = exceptions.entity)
            THEN CASE WHEN entity LIKE 'stock:%' THEN 'stock' ELSE 'write' END
        WHEN stream IS NULL THEN 'webhook'
        WHEN payload IS NULL THEN 'read'  -- a failed read keeps no record
        ELSE 'record' END;
    CREATE INDEX exceptions_by_subject ON exceptions (channel, entity, resolved_at);
    ALTER TABLE outbox ADD COLUMN entity TEXT;   -- what the write is about, for the audit log
    ALTER TABLE outbox ADD COLUMN summary TEXT;  -- a short description of the request
    CREATE INDEX audit_by_time ON audit (at);
    CREATE INDEX audit_by_entity ON audit (entity, at);
    """,
    """
    -- The newest stored version of each polled record, which a read of it unchanged repeats.
    CREATE INDEX inbox_versions ON inbox (channel, stream, entity, id);
    -- The records the hub has still to take, found without walking the whole inbox.
    CREATE INDEX inbox_for_the_hub ON inbox (id) WHERE source = 'poll' AND processed_at IS NULL;
    """,
)
