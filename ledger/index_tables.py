"""The ledger's write indexes: what each table holds and why, its DDL, and the statements
that write rows into it in the same transaction as the events (`ledger.persistence`).

- `positions`: when each ledger position was recorded, so "as known at" a time becomes
  a position.
- `movements`: the per-depot movement journal, one row per item line that changes a
  book, indexed by depot, item and business time. Backdated commands and historical
  views read it instead of replaying a depot's whole stream. Receipts that state a lot's
  expiry are indexed by (item, lot, position): a view looks the expiry up as known at its cut.
- `obligations`: one row per obligation set, by depot, item and business time, with its
  basis and terms, so a view finds the obligation in force at its cut without reading
  events (`projections.obligations`). Rows for obligations stored before it existed are
  backfilled from the movement journal (`ledger.backfill`): those were all recent_consumption.
- `transfers`: transfer id -> source, destination, status, so a receipt or cancellation
  naming only the transfer finds both depots.
- `depots`, `items`: the directory, for listing and filtering.
- `item_gtins`: GTIN-14 -> item, what each item's GS1 trade item numbers are now. Its
  primary key makes a GTIN given to two items at once (two processes, one database) fail
  the second save, which is then decided again and refused. An item's GTINs set again
  delete its rows before inserting the new ones, in the same save.
- `allocations`: allocation id -> source, item, status and the decision's position, so a
  transfer or revocation naming only the allocation finds its depot, and decisions can be
  listed and found by item.
- `late_events`: every event recorded more than 24 hours after it occurred, by recording
  time, for the late-data report.
- `chain`: the recorded links of the tamper-evidence hash chain (position -> digest). Unlike
  the tables above it is not written with the events but sealed afterwards, whenever a
  digest is computed (see `replay.digest`).
- `corrections`: one row per adjustment that corrects an earlier event of its depot: its
  position and event id, and the corrected event's id and position, so the feed shows the
  link both ways (`corrects`, `corrected_by`) without scanning.
- `backfills`: which index tables added by a later version have been filled in for the
  events stored before it (`ledger.backfill`), and up to which position.
- `idempotency`: one row per (principal, Idempotency-Key). Its primary key makes a
  concurrent duplicate fail the whole transaction, so one key stores one command.
- `exercise_reviews`: a cache, used in the exercises' control store only: each exercise's
  latest review per policy with the state it was computed from (`ledger.exercise_reviews`).
- `imports`: one row per stored import (`ImportRecorded`): who imported which file (its
  content hash), when, its rows and events, and the position of its record, the last of its
  events (its events are the `events` positions before it), for `GET /v1/imports`.
- `health_probe`: one row, rewritten by `/healthz` to prove the database still takes
  writes (`ledger.health`).
"""

SCHEMA = {
    "movements": """
        CREATE TABLE IF NOT EXISTS {t}movements (
            position BIGINT NOT NULL, line INTEGER NOT NULL, depot TEXT NOT NULL, item TEXT NOT NULL,
            occurred_at {ts} NOT NULL, recorded_at {ts} NOT NULL, version BIGINT NOT NULL,
            event_type TEXT NOT NULL, delta BIGINT NOT NULL, counted BIGINT, lot TEXT, expires_on {date},
            transit_in BIGINT NOT NULL DEFAULT 0, transit_out BIGINT NOT NULL DEFAULT 0,
            reserved BIGINT NOT NULL DEFAULT 0, min_days INTEGER, backdated INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (position, line))""",
    "movements_index": """
        CREATE INDEX IF NOT EXISTS {n}movements_by_depot_item
            ON {t}movements (depot, item, occurred_at, position)""",
    "movements_by_recording": """
        CREATE INDEX IF NOT EXISTS {n}movements_by_depot_item_position ON {t}movements (depot, item, position)""",
    "positions": """
        CREATE TABLE IF NOT EXISTS {t}positions (position BIGINT PRIMARY KEY, recorded_at {ts} NOT NULL)""",
    "positions_by_time": """
        CREATE INDEX IF NOT EXISTS {n}positions_by_recorded_at ON {t}positions (recorded_at, position)""",
    "movements_backdated": """
        CREATE INDEX IF NOT EXISTS {n}movements_backdated ON {t}movements (depot, item, position, occurred_at)
            WHERE backdated = 1""",
    "movements_by_lot": """
        CREATE INDEX IF NOT EXISTS {n}movements_by_lot ON {t}movements (depot, item, lot)
            WHERE expires_on IS NOT NULL""",
    "movements_lot_expiry": """
        CREATE INDEX IF NOT EXISTS {n}movements_lot_expiry ON {t}movements (item, lot, position)
            WHERE expires_on IS NOT NULL""",
    "obligations": """
        CREATE TABLE IF NOT EXISTS {t}obligations (
            position BIGINT PRIMARY KEY, depot TEXT NOT NULL, item TEXT NOT NULL, occurred_at {ts} NOT NULL,
            basis TEXT NOT NULL, min_days INTEGER, terms TEXT)""",
    "obligations_index": """
        CREATE INDEX IF NOT EXISTS {n}obligations_by_depot_item
            ON {t}obligations (depot, item, occurred_at, position)""",
    "fold_checkpoints": """
        CREATE TABLE IF NOT EXISTS {t}fold_checkpoints (
            depot TEXT NOT NULL, item TEXT NOT NULL, known_position BIGINT NOT NULL,
            occurred_at {ts} NOT NULL, position BIGINT NOT NULL, line INTEGER NOT NULL, state TEXT NOT NULL,
            PRIMARY KEY (depot, item, occurred_at, position, line, known_position))""",
    "transfers": """
        CREATE TABLE IF NOT EXISTS {t}transfers (
            transfer_id TEXT PRIMARY KEY, source TEXT NOT NULL, destination TEXT NOT NULL,
            status TEXT NOT NULL, lines TEXT NOT NULL, allocation_id TEXT, reference TEXT,
            dispatched_at {ts} NOT NULL, received_at {ts}, cancelled_at {ts}, cancel_reason TEXT,
            received_lines TEXT, dispatched_position BIGINT NOT NULL, updated_position BIGINT NOT NULL)""",
    "transfers_index": """
        CREATE INDEX IF NOT EXISTS {n}transfers_by_status ON {t}transfers (status, dispatched_position)""",
    "depots": """
        CREATE TABLE IF NOT EXISTS {t}depots (
            code TEXT PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL, organisation TEXT NOT NULL,
            kind TEXT NOT NULL, population_served BIGINT, position BIGINT NOT NULL)""",
    "items": """
        CREATE TABLE IF NOT EXISTS {t}items (
            code TEXT PRIMARY KEY, name TEXT NOT NULL, unit TEXT NOT NULL, category TEXT NOT NULL,
            atc_code TEXT, position BIGINT NOT NULL)""",
    "item_gtins": """
        CREATE TABLE IF NOT EXISTS {t}item_gtins (
            gtin TEXT PRIMARY KEY, item TEXT NOT NULL, position BIGINT NOT NULL)""",
    "item_gtins_by_item": """
        CREATE INDEX IF NOT EXISTS {n}item_gtins_by_item ON {t}item_gtins (item, gtin)""",
    "transfers_by_allocation": """
        CREATE INDEX IF NOT EXISTS {n}transfers_by_allocation ON {t}transfers (allocation_id)
            WHERE allocation_id IS NOT NULL""",
    "allocations": """
        CREATE TABLE IF NOT EXISTS {t}allocations (
            allocation_id TEXT PRIMARY KEY, source TEXT NOT NULL, item TEXT NOT NULL, quantity BIGINT NOT NULL,
            policy TEXT NOT NULL, status TEXT NOT NULL, decided_at {ts} NOT NULL, recorded_at {ts} NOT NULL,
            basis_position BIGINT NOT NULL, recipients TEXT NOT NULL, decided_position BIGINT NOT NULL,
            revoked_at {ts}, revoke_reason TEXT, revoked_position BIGINT)""",
    "allocations_by_item": """
        CREATE INDEX IF NOT EXISTS {n}allocations_by_item ON {t}allocations (item, decided_at)""",
    "late_events": """
        CREATE TABLE IF NOT EXISTS {t}late_events (
            position BIGINT PRIMARY KEY, depot TEXT, event_type TEXT NOT NULL, occurred_at {ts} NOT NULL,
            recorded_at {ts} NOT NULL)""",
    "late_events_by_recording": """
        CREATE INDEX IF NOT EXISTS {n}late_events_by_recorded_at ON {t}late_events (recorded_at, position)""",
    "backfills": """
        CREATE TABLE IF NOT EXISTS {t}backfills (name TEXT PRIMARY KEY, upto BIGINT NOT NULL)""",
    "chain": """
        CREATE TABLE IF NOT EXISTS {t}chain (position BIGINT PRIMARY KEY, digest TEXT NOT NULL)""",
    "corrections": """
        CREATE TABLE IF NOT EXISTS {t}corrections (
            position BIGINT PRIMARY KEY, depot TEXT NOT NULL, event_id TEXT NOT NULL, corrects TEXT NOT NULL,
            corrects_position BIGINT NOT NULL)""",
    "corrections_by_corrected": """
        CREATE INDEX IF NOT EXISTS {n}corrections_by_corrected ON {t}corrections (corrects_position, position)""",
    "exercise_reviews": """
        CREATE TABLE IF NOT EXISTS {t}exercise_reviews (
            exercise TEXT NOT NULL, policy TEXT NOT NULL, state TEXT NOT NULL, review TEXT NOT NULL,
            PRIMARY KEY (exercise, policy))""",
    "health_probe": """
        CREATE TABLE IF NOT EXISTS {t}health_probe (id INTEGER PRIMARY KEY, at TEXT NOT NULL)""",
    "imports": """
        CREATE TABLE IF NOT EXISTS {t}imports (
            import_id TEXT PRIMARY KEY, kind TEXT NOT NULL, actor TEXT NOT NULL, file_name TEXT,
            content_hash TEXT NOT NULL, row_count BIGINT NOT NULL, event_count BIGINT NOT NULL,
            recorded_at {ts} NOT NULL, position BIGINT NOT NULL)""",
    "idempotency": """
        CREATE TABLE IF NOT EXISTS {t}idempotency (
            scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, outcome TEXT NOT NULL,
            position BIGINT NOT NULL, PRIMARY KEY (scope, key))""",
}

WRITES = {
    "position": "INSERT INTO {t}positions (position, recorded_at) VALUES (:position, :recorded_at)",
    "movement": """INSERT INTO {t}movements (position, line, depot, item, occurred_at, recorded_at, version,
        event_type, delta, counted, lot, expires_on, transit_in, transit_out, reserved, min_days, backdated)
        VALUES (:position, :line, :depot, :item, :occurred_at, :recorded_at, :version, :event_type, :delta,
        :counted, :lot, :expires_on, :transit_in, :transit_out, :reserved, :min_days, :backdated)""",
    "obligation": """INSERT INTO {t}obligations (position, depot, item, occurred_at, basis, min_days, terms)
        VALUES (:position, :depot, :item, :occurred_at, :basis, :min_days, :terms)""",
    "depot": """INSERT INTO {t}depots (code, name, region, organisation, kind, population_served, position)
        VALUES (:code, :name, :region, :organisation, :kind, :population_served, :position)""",
    "item": """INSERT INTO {t}items (code, name, unit, category, atc_code, position)
        VALUES (:code, :name, :unit, :category, :atc_code, :position)""",
    "item_gtins_cleared": "DELETE FROM {t}item_gtins WHERE item = :item",
    "item_gtin": "INSERT INTO {t}item_gtins (gtin, item, position) VALUES (:gtin, :item, :position)",
    "transfer_dispatched": """INSERT INTO {t}transfers (transfer_id, source, destination, status, lines,
        allocation_id, reference, dispatched_at, dispatched_position, updated_position) VALUES (:transfer_id,
        :source, :destination, 'in_transit', :lines, :allocation_id, :reference, :dispatched_at, :position,
        :position)""",
    "transfer_received": """UPDATE {t}transfers SET status = 'received', received_at = :received_at,
        received_lines = :received_lines, updated_position = :position WHERE transfer_id = :transfer_id""",
    "transfer_cancelled": """UPDATE {t}transfers SET status = 'cancelled', cancelled_at = :cancelled_at,
        cancel_reason = :reason, updated_position = :position WHERE transfer_id = :transfer_id""",
    "idempotency": """INSERT INTO {t}idempotency (scope, key, fingerprint, outcome, position)
        VALUES (:scope, :key, :fingerprint, :outcome, :position)""",
    "allocation_decided": """INSERT INTO {t}allocations (allocation_id, source, item, quantity, policy, status,
        decided_at, recorded_at, basis_position, recipients, decided_position) VALUES (:allocation_id, :source,
        :item, :quantity, :policy, 'open', :decided_at, :recorded_at, :basis_position, :recipients, :position)""",
    "allocation_revoked": """UPDATE {t}allocations SET status = 'revoked', revoked_at = :revoked_at,
        revoke_reason = :reason, revoked_position = :position WHERE allocation_id = :allocation_id""",
    "correction": """INSERT INTO {t}corrections (position, depot, event_id, corrects, corrects_position)
        VALUES (:position, :depot, :event_id, :corrects, :corrects_position)""",
    "import": """INSERT INTO {t}imports (import_id, kind, actor, file_name, content_hash, row_count,
        event_count, recorded_at, position) VALUES (:import_id, :kind, :actor, :file_name, :content_hash,
        :rows, :events, :recorded_at, :position)""",
    "late_event": """INSERT INTO {t}late_events (position, depot, event_type, occurred_at, recorded_at)
        VALUES (:position, :depot, :event_type, :occurred_at, :recorded_at)""",
}
