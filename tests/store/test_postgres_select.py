"""Choosing PostgreSQL: a postgresql:// URL from --db, KMSG_DB or [store] url; the password never
shown; no driver is 78 with the install line; a server that cannot be reached is 69."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kmsg_cli.config import mask_db_url
from tests.conftest import Kmsg


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://kmsg:s3cret@db:5432/kmsg", "postgresql://kmsg:***@db:5432/kmsg"),
        ("postgres://kmsg@db/kmsg?password=s3cret&sslmode=require",
         "postgres://kmsg@db/kmsg?password=***&sslmode=require"),
        ("postgresql:///kmsg?host=/run/postgresql", "postgresql:///kmsg?host=/run/postgresql"),
        ("postgresql://:s3cret@/kmsg?host=/tmp", "postgresql://:***@/kmsg?host=/tmp"),
    ],
)  # fmt: skip
def test_passwords_are_masked_wherever_the_url_holds_one(url: str, shown: str) -> None:
    assert mask_db_url(url) == shown


def test_send_and_status_on_postgres_leave_the_local_folder_without_a_database(
    kmsg: Kmsg, kmsg_home: Path, pg_url: str
) -> None:
    assert kmsg("--db", pg_url, "send", "--to", "01012345678", "--text", "hi").exit_code == 0
    code, doc = kmsg.json("--db", pg_url, "status")
    assert code == 0 and [m["status"] for m in doc["messages"]] == ["SENT"]
    assert not (kmsg_home / "kmsg.db").exists()


def test_store_url_in_the_config_with_the_password_from_env(
    kmsg: Kmsg, pg_url: str, write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KMSG_DB_PASSWORD", "hunter2")
    write_config(
        '[providers.mock]\ntype = "mock"\n'
        f'[store]\nurl = "{pg_url}"\npassword = "env:KMSG_DB_PASSWORD"\n'
    )
    assert kmsg("send", "--to", "01012345678", "--text", "hi").exit_code == 0
    code, doc = kmsg.json("status")
    assert code == 0 and len(doc["messages"]) == 1
    shown = kmsg("config", "show")
    assert "hunter2" not in shown.output and "env:KMSG_DB_PASSWORD" in shown.output


def test_an_unreachable_server_is_69_and_the_password_never_shows(
    kmsg: Kmsg, tmp_path: Path
) -> None:
    url = f"postgresql://kmsg:hunter2@/kmsg?host={tmp_path}/nowhere"
    result = kmsg("--db", url, "status")
    assert result.exit_code == 69, result.output
    assert "hunter2" not in result.output and "kmsg:***@" in result.output


def test_a_url_libpq_cannot_parse_is_78(kmsg: Kmsg) -> None:
    result = kmsg("--db", "postgresql://kmsg:hunter2@/kmsg?nope=1", "status")
    assert result.exit_code == 78 and "bad database URL" in result.output
    assert "hunter2" not in result.output


def test_without_psycopg_a_postgres_url_is_78_with_the_install_line(
    kmsg: Kmsg, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    monkeypatch.setenv("KMSG_DB", "postgresql://kmsg:hunter2@db.internal/kmsg")
    result = kmsg("status")
    assert result.exit_code == 78
    assert "pip install 'kmsg-cli[postgres]'" in result.output and "hunter2" not in result.output


def test_a_config_naming_both_a_file_and_a_url_is_refused(
    kmsg: Kmsg, write_config: Callable[[str], Path]
) -> None:
    write_config('[store]\npath = "/tmp/k.db"\nurl = "postgresql://kmsg@db/kmsg"\n')
    result = kmsg("status")
    assert result.exit_code == 78 and "not both" in result.output


def test_placeholders_are_translated_outside_quotes_only() -> None:
    from kmsg_cli.store.postgres import translate

    assert translate("SELECT '50%?', \"a?\", ? FROM t", False) == (
        "SELECT '50%%?', \"a?\", %s FROM t"
    )
    assert translate("SELECT x::bigint FROM t WHERE a = :now AND b = ':no'", True) == (
        "SELECT x::bigint FROM t WHERE a = %(now)s AND b = ':no'"
    )
    assert translate("BEGIN IMMEDIATE", False) == "BEGIN"


def test_config_path_names_the_postgres_database_masked(
    kmsg: Kmsg, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KMSG_DB", "postgresql://kmsg:hunter2@db.internal/kmsg")
    code, doc = kmsg.json("config", "path")
    assert code == 0 and doc["db"] == "postgresql://kmsg:***@db.internal/kmsg"


def test_a_connection_lost_mid_run_is_69_naming_the_database(pg_url: str) -> None:
    import psycopg

    from kmsg_cli.store import open_store
    from kmsg_cli.store.faults import StoreUnavailable

    store = open_store(pg_url, 0)
    pid = store.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(pg_url, autocommit=True) as admin:  # the server drops kmsg's session
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StoreUnavailable, match="lost the database postgresql://") as lost:
        store.advance_cursor("by_type.SMS", 2)
    assert lost.value.exit_code == 69


def test_a_database_a_newer_kmsg_migrated_is_refused_naming_it_masked(pg_url: str) -> None:
    import psycopg

    from kmsg_cli.errors import ConfigError
    from kmsg_cli.store import open_store
    from kmsg_cli.store.migrations import MIGRATIONS

    open_store(pg_url, 0).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        future = f"{len(MIGRATIONS) + 1:03d}_from_the_future"
        conn.execute("INSERT INTO kmsg_migrations VALUES (%s, 0)", (future,))
    url = pg_url.replace("postgresql://postgres@", "postgresql://postgres:hunter2@")
    newer = f"schema {len(MIGRATIONS) + 1}, newer than this kmsg"
    with pytest.raises(ConfigError, match=newer) as refused:
        open_store(url, 0)
    assert "hunter2" not in refused.value.message and "postgres:***@" in refused.value.message
