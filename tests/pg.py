"""The test suite's PostgreSQL: a throwaway cluster (bench/pgcluster.py, with durability off for
speed) listening only on a Unix socket in a temporary folder, removed at the end of the session.

When the tests run as root the server runs as the ``postgres`` user (PostgreSQL refuses root).
Without the server binaries the PostgreSQL tests are skipped with one line saying how to get
them, unless ``KMSG_REQUIRE_POSTGRES=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.pgcluster import PgCluster, find_bin

__all__ = ["INSTALL", "Cluster", "find_bin", "required"]

INSTALL = "PostgreSQL server binaries not found: apt install postgresql (or set KMSG_PG_BIN)"


def required() -> bool:
    return os.environ.get("KMSG_REQUIRE_POSTGRES") == "1"


def Cluster(bin_dir: Path) -> PgCluster:  # noqa: N802 (reads as the class it makes)
    return PgCluster(bin_dir, durable=False)
