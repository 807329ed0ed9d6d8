"""Who may do what: the roles of each function's service account, as data.

Grants are as narrow as Google Cloud allows: the events topic, the dataset, single tables and
single secrets; only the job-running and job-listing roles are project-wide, because BigQuery
has no narrower place for them.
"""

from __future__ import annotations

from dataclasses import dataclass

JOB_USER = "roles/bigquery.jobUser"  # run query jobs (project-level only)
RESOURCE_VIEWER = "roles/bigquery.resourceViewer"  # read INFORMATION_SCHEMA.JOBS (project-level)
DATA_EDITOR = "roles/bigquery.dataEditor"
DATA_VIEWER = "roles/bigquery.dataViewer"
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"  # noqa: S105 (a role name)
PUBLISHER = "roles/pubsub.publisher"
INVOKER = "roles/run.invoker"

# Secret key -> the environment variable functions.settings reads it from.
SECRET_VARIABLES = {
    "write-keys": "BEACON_WRITE_KEYS",
    "admin-tokens": "BEACON_ADMIN_TOKENS",
    "smtp-password": "BEACON_SMTP_PASSWORD",
}


@dataclass(frozen=True)
class Access:
    dataset_role: str | None = None  # on the whole dataset
    writes_tables: tuple[str, ...] = ()  # dataEditor on these tables only, when they exist
    project_roles: tuple[str, ...] = ()
    publishes_events: bool = False  # pubsub.publisher on the events topic only
    secrets: tuple[str, ...] = ()  # keys of SECRET_VARIABLES


ACCESS: dict[str, Access] = {
    "ingest": Access(publishes_events=True, secrets=("write-keys",)),
    # load and rollup create tables (CREATE TABLE IF NOT EXISTS), so they edit the dataset.
    "load": Access(dataset_role=DATA_EDITOR, project_roles=(JOB_USER,)),
    "rollup": Access(dataset_role=DATA_EDITOR, project_roles=(JOB_USER,)),
    "query": Access(
        dataset_role=DATA_VIEWER,
        writes_tables=("query_costs",),  # its log of bytes billed per dashboard query
        project_roles=(JOB_USER,),
        secrets=("admin-tokens",),
    ),
    "alerts": Access(
        dataset_role=DATA_VIEWER,
        writes_tables=("alerts_log",),
        project_roles=(JOB_USER, RESOURCE_VIEWER),
        secrets=("smtp-password",),
    ),
}


def access_for(function: str) -> Access:
    """A function not listed here gets no access at all until someone decides what it needs."""
    return ACCESS.get(function, Access())
