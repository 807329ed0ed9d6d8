"""The rollup function: KPI rollups, retention cleanup and GDPR requests, all scheduled or on call."""
