"""Beacon's Pulumi program: the whole pipeline on Google Cloud (README: Deploy to Google Cloud)."""
