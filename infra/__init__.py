"""Beacon's Pulumi program: the whole pipeline on Google Cloud (see docs/deploy.md)."""
