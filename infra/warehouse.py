"""The BigQuery dataset and every table of the catalogue (sql/<table>/), with the partition
expiration of each table's retention class: the same classes local retention applies."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from functions.catalogue import retention_days, tables
from infra.ddl import table_spec

_DAY_MS = 86_400_000


def expiration_days(table: str, retention_days_raw: int, rollup_retention_days: int) -> int | None:
    """Days a table's partitions live; None: never expire (retention class keep)."""
    return retention_days(
        tables()[table], raw_days=retention_days_raw, rollup_days=rollup_retention_days
    )


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
            description="Beacon events, rollups and logs; tables defined in sql/<table>/.",
            # Keep the data if the dataset resource is ever replaced or destroyed by mistake.
            delete_contents_on_destroy=False,
            opts=child,
        )
        self.tables = {}
        for spec in (table_spec(entry) for entry in tables().values()):
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
                    expiration_ms=None if days is None else days * _DAY_MS,
                ),
                require_partition_filter=spec.require_partition_filter,
                clusterings=list(spec.clusterings) or None,
                # True: `pulumi destroy` stops here until it is set false (README: Tear down).
                deletion_protection=args.deletion_protection,
                opts=child,
            )
        self.register_outputs({"dataset": self.dataset.dataset_id, "tables": sorted(self.tables)})
