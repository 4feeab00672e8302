"""Pure domain: no I/O, no typer, rich, httpx, sqlite3 or platformdirs (tests/test_architecture.py)."""
