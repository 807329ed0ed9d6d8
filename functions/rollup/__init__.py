"""The rollup function: KPI rollups, retention cleanup and GDPR requests."""
