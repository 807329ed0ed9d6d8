"""The BigQuery dataset and every table of sql/tables/, created from the DDL files themselves."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from functions.sqlfiles import table_ddl
from infra.ddl import TableSpec, parse_table

RAW_TABLES = frozenset({"events", "bad_events"})  # kept retention_days; the rest are rollups
_DAY_MS = 86_400_000


def table_specs() -> list[TableSpec]:
    return [parse_table(sql) for sql in table_ddl().values()]


def expiration_days(table: str, retention_days: int, rollup_retention_days: int) -> int:
    return retention_days if table in RAW_TABLES else rollup_retention_days


class WarehouseArgs:
    def __init__(
        self,
        project: str,
        dataset: str,
        location: str,
        retention_days: int,
        rollup_retention_days: int,
        deletion_protection: bool,
    ) -> None:
        self.project = project
        self.dataset = dataset
        self.location = location
        self.retention_days = retention_days
        self.rollup_retention_days = rollup_retention_days
        self.deletion_protection = deletion_protection


class Warehouse(pulumi.ComponentResource):
    dataset: gcp.bigquery.Dataset
    tables: dict[str, gcp.bigquery.Table]

    def __init__(
        self, name: str, args: WarehouseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("beacon:infra:Warehouse", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.dataset = gcp.bigquery.Dataset(
            name,
            project=args.project,
            dataset_id=args.dataset,
            location=args.location,
            description="Beacon events, rollups and logs; tables defined in sql/tables/.",
            # Keep the data if the dataset resource is ever replaced or destroyed by mistake.
            delete_contents_on_destroy=False,
            opts=child,
        )
        self.tables = {}
        for spec in table_specs():
            days = expiration_days(spec.name, args.retention_days, args.rollup_retention_days)
            self.tables[spec.name] = gcp.bigquery.Table(
                f"{name}-{spec.name}",
                project=args.project,
                dataset_id=self.dataset.dataset_id,
                table_id=spec.name,
                description=spec.description or None,
                schema=spec.schema_json(),
                time_partitioning=gcp.bigquery.TableTimePartitioningArgs(
                    type=spec.partition_type,
                    field=spec.partition_field,
                    expiration_ms=days * _DAY_MS,
                ),
                require_partition_filter=spec.require_partition_filter,
                clusterings=list(spec.clusterings) or None,
                # True: `pulumi destroy` stops here until it is set false (README: Tear down).
                deletion_protection=args.deletion_protection,
                opts=child,
            )
        self.register_outputs({"dataset": self.dataset.dataset_id, "tables": sorted(self.tables)})
