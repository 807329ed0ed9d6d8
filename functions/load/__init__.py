"""The load function: enrich events from the bus and stream them into the warehouse."""
