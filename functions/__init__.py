"""Beacon: serverless event analytics for Google Cloud, runnable whole on one machine."""

__version__ = "0.1.0"
