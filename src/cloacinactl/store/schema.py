"""The schema (SQLAlchemy Core): one definition for SQLite and PostgreSQL.

Ids are UUID strings, times are timezone-aware UTC, JSON documents are stored as
text (``JSONText``) so both backends hold byte-identical documents. Tables have
no schema name: tenants are applied with ``schema_translate_map`` (PostgreSQL)
or a separate file (SQLite).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out (SQLite keeps naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class JSONText(TypeDecorator[Any]):
    """A JSON document stored as compact text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), sort_keys=False)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(value)


metadata = MetaData()

# INTEGER PRIMARY KEY is SQLite's rowid alias; BIGINT elsewhere
RowId = BigInteger().with_variant(Integer, "sqlite")

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
)

packages = Table(
    "packages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("version", String(100), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("description", Text),
    Column("manifest", JSONText),
    Column("archive_path", Text),
    Column("build_status", String(32), nullable=False, default="success"),
    Column("build_error", Text),
    Column("paused", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("name", "version", name="uq_packages_name_version"),
)

workflows = Table(
    "workflows",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("package_id", String(36), ForeignKey("packages.id", ondelete="CASCADE")),
    Column("name", String(255), nullable=False),
    # a hash of the package content and the task graph (design §9)
    Column("version", String(64), nullable=False),
    Column("definition", JSONText, nullable=False),
    # where the task code lives: {"kind": "package"|"module"|"inprocess", ...}
    Column("code", JSONText, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("name", "version", name="uq_workflows_name_version"),
)
Index("ix_workflows_name_active", workflows.c.name, workflows.c.active)

executions = Table(
    "executions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workflow_name", String(255), nullable=False),
    Column("workflow_version", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("input_context", JSONText, nullable=False),
    Column("output_context", JSONText),
    Column("trigger_origin", String(255), nullable=False, default="manual"),
    Column("error", Text),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    # next per-execution event sequence number; bumped under the row lock
    Column("next_seq", Integer, nullable=False, default=1),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime),
    Column("completed_at", UtcDateTime),
    # the current (or, once cancelled, the last) pause: set by pause, cleared by resume
    Column("paused_at", UtcDateTime),
    Column("pause_reason", Text),
    # W3C traceparent of the request that started it (tracing on), so whichever server
    # finishes the execution parents its spans under that request
    Column("trace_parent", String(64)),
)
Index("ix_executions_status", executions.c.status)
Index("ix_executions_workflow", executions.c.workflow_name, executions.c.created_at)

tasks = Table(
    "tasks",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column(
        "execution_id",
        String(36),
        ForeignKey("executions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("task_name", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False, default=0),
    Column("retry_at", UtcDateTime),
    Column("ready_at", UtcDateTime),
    Column("claimant_id", String(36)),
    Column("heartbeat_at", UtcDateTime),
    Column("reset_count", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("input_context", JSONText),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime),
    Column("completed_at", UtcDateTime),
    # a Completed task's output, on the task's own row (migration 9; it had a table of
    # its own): recording it costs no insert and no index of its own
    Column("output_context", JSONText),
    UniqueConstraint("execution_id", "task_name", name="uq_tasks_execution_task"),
)
# Partial indexes: only rows in the state a hot query looks for, so most state
# changes do not touch them. Claims walk Ready rows in id order; heartbeats and
# recovery look up Running rows by claimant.
_READY = text("state = 'Ready'")
_RUNNING = text("state = 'Running'")
Index("ix_tasks_ready", tasks.c.id, sqlite_where=_READY, postgresql_where=_READY)
Index("ix_tasks_running", tasks.c.claimant_id, sqlite_where=_RUNNING, postgresql_where=_RUNNING)


# The public event id is a UUID derived from (execution_id, sequence_num): see
# ``cloacinactl.store.executions.event_id``; the row key is a plain integer so the
# hottest insert of the engine appends to its B-tree instead of scattering.
events = Table(
    "events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column(
        "execution_id",
        String(36),
        ForeignKey("executions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("sequence_num", Integer, nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("task_name", String(255)),
    Column("event_data", JSONText),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("execution_id", "sequence_num", name="uq_events_execution_seq"),
)
Index("ix_events_created_at", events.c.created_at)

claimants = Table(
    "claimants",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("process_started_at", UtcDateTime),
    Column("started_at", UtcDateTime, nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("package_id", String(36), ForeignKey("packages.id", ondelete="CASCADE")),
    Column("schedule_type", String(16), nullable=False),  # "cron" | "trigger"
    Column("workflow_name", String(255), nullable=False),
    Column("trigger_name", String(255)),
    Column("cron_expression", String(255)),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("poll_interval_ms", Integer),
    Column("allow_concurrent", Boolean, nullable=False, default=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("config", JSONText),
    Column("next_run_at", UtcDateTime),
    Column("last_run_at", UtcDateTime),
    # newest cron slot considered (fired or skipped); never moves backwards
    Column("cron_cursor", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("schedule_type", "workflow_name", "trigger_name", name="uq_schedules_name"),
)

cron_fires = Table(
    "cron_fires",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "schedule_id",
        String(36),
        ForeignKey("schedules.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("scheduled_time", UtcDateTime, nullable=False),
    Column("execution_id", String(36)),
    Column("claimant_id", String(36)),
    Column("claimed_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("started_at", UtcDateTime),
    UniqueConstraint("schedule_id", "scheduled_time", name="uq_cron_fires_slot"),
)

# ---------------------------------------------------------------------------- compiler
# The build queue lives on ``packages`` (claim columns, migration 7); the built,
# signed archive in ``package_artifacts`` (one per package, per tenant).
for _column in (
    Column("build_claimed_by", String(64)),
    Column("build_claimed_at", UtcDateTime),
    Column("build_heartbeat_at", UtcDateTime),
    Column("build_attempts", Integer, nullable=False, default=0, server_default=text("0")),
    Column("build_log", Text),
    Column("build_finished_at", UtcDateTime),
):
    packages.append_column(_column)
Index("ix_packages_build_status", packages.c.build_status)

package_artifacts = Table(
    "package_artifacts",
    metadata,
    Column(
        "package_id",
        String(36),
        ForeignKey("packages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # SHA-256 of the uploaded source archive: the same bytes reuse this artifact
    Column("source_sha256", String(64), nullable=False),
    Column("archive", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("signer_public_key", Text, nullable=False),
    Column("description", JSONText, nullable=False),
    Column("built_by", String(64), nullable=False),
    Column("built_at", UtcDateTime, nullable=False),
)
Index("ix_package_artifacts_source", package_artifacts.c.source_sha256)

# ----------------------------------------------------------------------------- srvflow
# An uploaded archive lives in the database beside its package row, so every server
# on the database can load it (scale-out).
package_archives = Table(
    "package_archives",
    metadata,
    Column(
        "package_id",
        String(36),
        ForeignKey("packages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("archive", LargeBinary, nullable=False),
    Column("signature", LargeBinary),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# ----------------------------------------------------------------------------- secrets
# Per tenant (migration 5): the tenant's data key, wrapped by the server's key-
# encryption key, and each secret's fields sealed with that data key. Field names
# are metadata (the API shows them); values exist only as ciphertext.
secret_keys = Table(
    "secret_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("wrapped_key", LargeBinary, nullable=False),  # nonce || AES-GCM(KEK, data key)
    Column("kek_id", String(16), nullable=False),  # which KEK wrapped it (a fingerprint)
    Column("created_at", UtcDateTime, nullable=False),
)

secrets = Table(
    "secrets",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("field_names", JSONText, nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # nonce || AES-GCM(data key, fields)
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# ----------------------------------------------------------------------------- graphs
# (migration 6): computation graphs' durable inputs, reactor cursors, fires

# accepted accumulator events and manual fires, consumed in id order by their reactor
graph_events = Table(
    "graph_events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("reactor", String(255), nullable=False),
    Column("accumulator", String(255)),
    Column("kind", String(32), nullable=False),  # event | polled | force_fire | fire_with
    Column("payload", JSONText),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_graph_events_reactor", "reactor", "id"),
    # ids never reused once consumed rows are deleted: the cursor relies on it
    sqlite_autoincrement=True,
)

# one per reactor: the last event consumed, accumulator + reactor state, counters
graph_reactors = Table(
    "graph_reactors",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("graph", String(255)),
    Column("package", String(255)),
    Column("cursor", BigInteger, nullable=False, default=0),
    Column("paused", Boolean, nullable=False, default=False),
    Column("state", JSONText),
    Column("stats", JSONText),
    Column("fires", BigInteger, nullable=False, default=0),
    Column("failures", BigInteger, nullable=False, default=0),
    Column("last_fired_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)

graph_fires = Table(
    "graph_fires",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("reactor", String(255), nullable=False),
    Column("graph", String(255), nullable=False),
    Column("fired_at", UtcDateTime, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", Text),
    Column("manual", Boolean, nullable=False, default=False),
    Column("inputs", JSONText),
    Column("inputs_digest", String(64)),
    Column("path", JSONText),
    Column("outputs", JSONText),
    Index("ix_graph_fires_reactor", "reactor", "id"),
)
