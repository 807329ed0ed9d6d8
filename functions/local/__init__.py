"""Everything that exists only for Beacon on one machine: the dev server and its demo, the local
queue and its worker, the DuckDB warehouse, the SMTP sink, the local scheduler and the `beacon`
command line. None of it ships in a function archive (infra/archive.py leaves this folder out),
and nothing outside it imports it, except runtime's adapters for BEACON_BACKEND=local, which
load it lazily and only when asked.
"""
