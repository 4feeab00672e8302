"""PostgreSQL store: the same query mixins as SQLite, run on a thin psycopg 3 adapter.

The adapter speaks the sqlite3 subset the mixins use (execute, executemany, in_transaction,
close; cursors with fetchone/fetchall/rowcount/iteration) and translates the few dialect
differences on the way: ``?`` and ``:name`` placeholders, ``BEGIN IMMEDIATE`` (a plain BEGIN: the
mixins take row locks and advisory locks where SQLite relied on its one write lock, see
store/dialect.py). jsonb columns come back as text, as SQLite gives them. Every storage fault is a
kmsg error naming the database with its password masked (docs/storage.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from kmsg_cli.config import is_db_url, mask_db_url
from kmsg_cli.errors import ConfigError, TemporaryError
from kmsg_cli.store.faults import StoreUnavailable

INSTALL = "pip install 'kmsg-cli[postgres]'"


def is_url(location: object) -> bool:
    return is_db_url(location)


class PgConnection:
    """psycopg connection in autocommit mode; kmsg issues BEGIN/COMMIT itself, like on SQLite."""

    dialect = "postgres"

    def __init__(self, raw: Any, shown: str, secret: str | None) -> None:
        self.raw = raw
        self.shown = shown  # the masked URL, for messages
        self._secret = secret

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return bool(self.raw.info.transaction_status != TransactionStatus.IDLE)

    def execute(self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] = (), /) -> Any:
        try:
            # planned with its values each time: a plan cached while a table was small (a seq
            # scan) outlives the table's growth and turns a 500-key lookup into a full scan
            query = translate(sql, isinstance(parameters, Mapping))
            return self.raw.execute(query, parameters, prepare=False)
        except Exception as exc:
            raise self._fault(exc) from None

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        rows = list(parameters)
        cursor = self.raw.cursor()
        if rows:
            try:
                cursor.executemany(translate(sql, False), rows)
            except Exception as exc:
                raise self._fault(exc) from None
        return cursor

    def close(self) -> None:
        self.raw.close()

    def _fault(self, exc: Exception) -> Exception:
        import psycopg
        from psycopg import errors

        if isinstance(exc, errors.SerializationFailure | errors.DeadlockDetected):
            return TemporaryError(f"the database {self.shown} is busy ({exc.sqlstate}); rerun")
        if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, errors.QueryCanceled):
            return StoreUnavailable(
                f"lost the database {self.shown}: {first_line(exc, self._secret)}"
            )
        return exc  # kmsg's own bugs (a constraint, bad SQL) stay bugs


@lru_cache(maxsize=512)
def translate(sql: str, named: bool) -> str:
    """sqlite3's placeholders in psycopg's syntax: ``?`` -> ``%s``, ``:name`` -> ``%(name)s``
    (outside quotes), literal ``%`` doubled; ``BEGIN IMMEDIATE`` -> ``BEGIN``."""
    if sql == "BEGIN IMMEDIATE":
        return "BEGIN"
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch == "%":
            out.append("%%")
        elif quote:
            out.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?" and not named:
            out.append("%s")
        elif (
            ch == ":"
            and named
            and (sql[i + 1 : i + 2].isalpha() or sql[i + 1 : i + 2] == "_")
            and sql[i - 1 : i] != ":"  # the second colon of a ::cast
        ):
            j = i + 1
            while j < len(sql) and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            out.append(f"%({sql[i + 1 : j]})s")
            i = j
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def connect(url: str, password: str | None = None) -> PgConnection:
    """Connect to ``url`` (any libpq URL). ``password`` (from the config's [store] password)
    is passed beside the URL, never written into it. No psycopg: 78 with the install line; the
    server cannot be reached: 69, naming the masked URL."""
    shown = mask_db_url(url)
    try:
        import psycopg
        from psycopg.types.string import TextLoader
    except ImportError:
        raise ConfigError(
            f"the database {shown} is PostgreSQL, which needs psycopg", hint=INSTALL
        ) from None
    secret = password or _url_password(url)
    try:
        extra: dict[str, Any] = {"password": password} if password else {}
        raw = psycopg.connect(url, autocommit=True, application_name="kmsg", **extra)
    except (psycopg.ProgrammingError, ValueError) as exc:  # libpq could not parse the URL
        raise ConfigError(f"bad database URL {shown}: {first_line(exc, secret)}") from None
    except psycopg.Error as exc:
        raise StoreUnavailable(
            f"cannot connect to the database {shown}: {first_line(exc, secret)}"
        ) from None
    for name in ("json", "jsonb"):  # as text, the way the mixins read SQLite's JSON columns
        raw.adapters.register_loader(name, TextLoader)
    return PgConnection(raw, shown, secret)


def first_line(exc: Exception, secret: str | None) -> str:
    """An error's first line, with the password (should libpq ever echo it) masked."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.replace(secret, "***") if secret else text


def _url_password(url: str) -> str | None:
    try:
        from psycopg.conninfo import conninfo_to_dict

        value = conninfo_to_dict(url).get("password")
    except Exception:
        return None
    return str(value) if value else None
