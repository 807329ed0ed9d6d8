"""The query function: dashboard JSON and the dashboard page, behind admin tokens."""
