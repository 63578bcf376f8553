"""Database schema, migrations and tenant handles (SQLite + PostgreSQL)."""

from cloacinactl.store.db import Store, drop_tenant, open_store
from cloacinactl.store.urls import DatabaseUrl, parse_database_url

__all__ = ["DatabaseUrl", "Store", "drop_tenant", "open_store", "parse_database_url"]
