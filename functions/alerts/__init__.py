"""The alerts function: threshold checks on recent data, mailed over SMTP with cooldowns."""
