"""Process-wide clients, created lazily once per instance so warm invocations reuse them.

`BEACON_BACKEND` picks the adapters: "local" (DuckDB file, durable SQLite queue under the data
directory) or "gcp" (BigQuery, Pub/Sub). Tests and `beacon dev` may install their own with the
`use_*` functions.
"""

from __future__ import annotations

import threading

from functions.bus import Publisher
from functions.settings import Settings
from functions.warehouse import Warehouse

_lock = threading.Lock()
_settings: Settings | None = None
_warehouse: Warehouse | None = None
_publisher: Publisher | None = None


def get_settings() -> Settings:
    global _settings
    with _lock:
        if _settings is None:
            _settings = Settings.from_env()
        return _settings


def get_warehouse() -> Warehouse:
    global _warehouse
    settings = get_settings()
    with _lock:
        if _warehouse is None:
            if settings.backend == "gcp":
                from functions.warehouse.bigquery import BigQueryWarehouse

                _warehouse = BigQueryWarehouse.from_settings(settings)
            else:
                from functions.local.duckdb_warehouse import DuckDBWarehouse

                _warehouse = DuckDBWarehouse(
                    settings.duckdb_path, memory_limit=settings.duckdb_memory_limit
                )
            _warehouse.ensure_tables()
        return _warehouse


def get_publisher() -> Publisher:
    global _publisher
    settings = get_settings()
    with _lock:
        if _publisher is None:
            if settings.backend == "gcp":
                from functions.bus.pubsub import PubSubPublisher

                _publisher = PubSubPublisher.from_settings(settings)
            else:
                from functions.local.localqueue import LocalQueue

                _publisher = LocalQueue(
                    settings.queue_path,
                    max_attempts=settings.queue_max_attempts,
                    max_bytes=settings.queue_max_bytes,
                )
        return _publisher


def use_settings(settings: Settings | None) -> None:
    global _settings
    with _lock:
        _settings = settings


def use_warehouse(warehouse: Warehouse | None) -> None:
    global _warehouse
    with _lock:
        _warehouse = warehouse


def use_publisher(publisher: Publisher | None) -> None:
    global _publisher
    with _lock:
        _publisher = publisher


def reset() -> None:
    """Forget every client (tests; `beacon dev` shutdown). Does not close them."""
    use_settings(None)
    use_warehouse(None)
    use_publisher(None)
