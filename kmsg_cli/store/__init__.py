"""The only SQL in kmsg. ``open_store(path)`` returns a migrated Store."""

from kmsg_cli.store.sqlite import Store, open_store

__all__ = ["Store", "open_store"]
