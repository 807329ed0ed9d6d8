"""The ingest function: validate, authenticate and publish events sent over HTTPS."""
