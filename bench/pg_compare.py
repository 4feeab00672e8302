"""SQLite beside PostgreSQL: the same kmsg commands on each store, one table.

    python bench/pg_compare.py [--rows 100000] [--pg postgresql://user@host/db] [--concurrency 4]

For each backend, in a fresh database, against a fresh fake SOLAPI server (bench/fake_solapi.py, its
own process) on 127.0.0.1:

1. ``kmsg send-bulk`` of ROWS rows, end to end (the fake server must receive each row once);
2. ``kmsg track --once --now`` over the ROWS records step 1 journaled, all due, one pass;
3. PostgreSQL only: ``kmsg db copy --to`` of the SQLite database of steps 1-2 (plus 1,000
   opt-outs and 20 queued sends) into an empty PostgreSQL database; ``kmsg status``,
   ``queue list`` and ``suppress list`` must then show the same counts on both.

PostgreSQL is the server ``--pg`` names (the bench creates and drops its own databases there, so
the URL's user needs CREATEDB), else a throwaway cluster started with initdb/pg_ctl
(bench/pgcluster.py) when the server binaries are installed. When kmsg cannot use a
``postgresql://`` database (no backend, no driver), the PostgreSQL column says why and the SQLite
column is still measured. Every command runs in a child process. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import this checkout, not an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import pgcluster  # noqa: E402
from bench.run import KEY, SECRET, TEXT, child_env, start_fake, stats, write_csv  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KMSG = [sys.executable, "-m", "kmsg_cli"]
DATABASES = ("kmsg_bench_run", "kmsg_bench_copy")  # created and dropped on the --pg server
OPTOUTS, JOBS = 1_000, 20  # added to the SQLite database before it is copied


@dataclass
class Step:
    seconds: float
    code: int
    note: str = ""


@dataclass
class Column:
    """One backend's results: step name -> Step, or why the backend could not be measured."""

    name: str
    steps: dict[str, Step] = field(default_factory=dict)
    unavailable: str = ""


def run(args: list[str], env: dict[str, str]) -> tuple[Step, str]:
    """One child process: its time and exit code, and its stdout."""
    started = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    step = Step(time.perf_counter() - started, done.returncode)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        step.note = lines[-1] if lines else ""
    return step, done.stdout


def kmsg_env(home: Path, db: str) -> dict[str, str]:
    env = child_env(KMSG_HOME=str(home), KMSG_DB=db)
    env |= {"BENCH_SOLAPI_KEY": KEY, "BENCH_SOLAPI_SECRET": SECRET}
    env.pop("KMSG_CONFIG", None)
    return env


def postgres_unavailable(env: dict[str, str]) -> str:
    """Why kmsg cannot use ``env``'s postgresql:// database; "" when it can."""
    step, _ = run([*KMSG, "db", "info", "-q"], env)
    if step.code == 0:
        return ""
    return f"postgres backend not available (kmsg db info: exit {step.code}: {step.note})"


def measure(name: str, db: str, work: Path, rows: Path, n: int, concurrency: int) -> Column:
    """send-bulk then track --once on one fresh database, against a fresh fake SOLAPI."""
    column = Column(name)
    home = work / f"home-{name}"
    home.mkdir()
    env = kmsg_env(home, db)
    if db.startswith("postgresql://") and (why := postgres_unavailable(env)):
        column.unavailable = why
        return column
    server, base_url = start_fake(env)
    try:
        (home / "config.toml").write_text(
            f'[providers.sol]\ntype = "solapi"\napi_key = "env:BENCH_SOLAPI_KEY"\n'
            f'api_secret = "env:BENCH_SOLAPI_SECRET"\ndefault_from = "0212345678"\n'
            f'base_url = "{base_url}"\n'
        )
        send = [*KMSG, "send-bulk", str(rows), "--text", TEXT, "--yes", "-q"]
        step, _ = run([*send, "--concurrency", str(concurrency)], env)
        got = stats(base_url)
        if not got["messages"] == got["unique"] == n:
            step.note = f"NOT exactly once: {got['messages']:,} sent, {got['unique']:,} distinct"
        column.steps["send-bulk (fake SOLAPI)"] = step
        track = [*KMSG, "track", "--once", "--now", "--limit", str(n), "-q"]
        column.steps["track --once, all due"], _ = run(track, env)
    finally:
        server.terminate()
        server.wait()
    return column


def document(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    step, out = run([*KMSG, *args, "--json"], env)
    if step.code != 0:
        return {"error": f"kmsg {' '.join(args)}: exit {step.code}: {step.note}"}
    doc: dict[str, Any] = json.loads(out)
    return doc


def contents(env: dict[str, str]) -> dict[str, Any]:
    """What a user sees of a database: message counts, queue counts, the opt-out list's size."""
    status = document(["status", "--since", "30d"], env)
    queue = document(["queue", "list"], env)
    optouts = document(["suppress", "list", "--limit", "1000000"], env)
    return {
        "messages": status.get("counts", status),
        "jobs": queue.get("counts", queue),
        "opt-outs": len(optouts["numbers"]) if "numbers" in optouts else optouts,
    }


def add_jobs_and_optouts(env: dict[str, str], work: Path) -> None:
    """Besides the campaign's messages and history: queued sends and opt-outs for the copy."""
    optouts = work / "optouts.csv"
    optouts.write_text("phone\n" + "".join(f"0109{i:07d}\n" for i in range(OPTOUTS)))
    run([*KMSG, "suppress", "import", str(optouts), "-q"], env)
    at = datetime.fromtimestamp(time.time() + 30, UTC).isoformat()  # the local queue holds it
    to = ",".join(f"0108{i:07d}" for i in range(JOBS))
    run([*KMSG, "send", "--to", to, "--text", "later", "--at", at, "-q"], env)


def copy_into(column: Column, sqlite_env: dict[str, str], pg_url: str, work: Path) -> None:
    """``kmsg db copy`` of the SQLite database into an empty PostgreSQL one: the same contents?"""
    add_jobs_and_optouts(sqlite_env, work)
    step, _ = run([*KMSG, "db", "copy", "--to", pg_url, "-q"], sqlite_env)
    if step.code == 0:
        before = contents(sqlite_env)
        after = contents({**sqlite_env, "KMSG_DB": pg_url})
        if before == after:
            messages = sum(before["messages"]["type"].values())
            step.note = (
                f"status, queue list and suppress list agree: {messages:,} messages, "
                f"{sum(before['jobs'].values())} jobs, {before['opt-outs']:,} opt-outs"
            )
        else:
            step.note = f"NOT the same: {before} != {after}"
    column.steps["db copy SQLite -> PostgreSQL"] = step


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[tuple[str, str] | str]:
    """(URL of an empty run database, URL of an empty copy database), or why there is none."""
    cluster = None
    try:
        if url is None:
            if pgcluster.find_bin() is None:
                yield "PostgreSQL server binaries not found: apt install postgresql, or --pg URL"
                return
            cluster = pgcluster.PgCluster.start_new()
            url = cluster.url()
        for name in DATABASES:
            pgcluster.create_database(url, name)
    except Exception as exc:  # the driver missing, no server, no CREATEDB: say so, go on
        yield f"postgres not available: {exc}"
        if cluster is not None:
            cluster.stop()
        return
    try:
        yield pgcluster.with_database(url, DATABASES[0]), pgcluster.with_database(url, DATABASES[1])
    finally:
        try:
            for name in DATABASES:
                pgcluster.drop_database(url, name)
        finally:
            if cluster is not None:
                cluster.stop()


def table(n: int, columns: list[Column]) -> str:
    names = list(dict.fromkeys(s for c in columns for s in c.steps))
    head = f"{'step':<30}{'rows':>9}"
    for c in columns:
        head += f"{c.name + ' s':>16}{'rows/s':>9}"
    lines = [head]
    for name in names:
        line = f"{name:<30}{n:>9,}"
        for c in columns:
            step = c.steps.get(name)
            if step is None:
                line += f"{'-':>16}{'-':>9}"
            elif step.code != 0:
                line += f"{'exit ' + str(step.code):>16}{'-':>9}"
            else:
                line += f"{step.seconds:>16.2f}{n / step.seconds:>9,.0f}"
        lines.append(line)
    notes = [f"{c.name}: {c.unavailable}" for c in columns if c.unavailable]
    notes += [f"{c.name}, {s}: {st.note}" for c in columns for s, st in c.steps.items() if st.note]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--pg", metavar="URL", help="a PostgreSQL server (default: a throwaway one)"
    )
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = write_csv(work / "rows.csv", args.rows)
        sqlite_db = str(work / "sqlite" / "kmsg.db")
        (work / "sqlite").mkdir()
        columns = [measure("SQLite", sqlite_db, work, rows, args.rows, args.concurrency)]
        with postgres(args.pg) as pg:
            if isinstance(pg, str):
                columns.append(Column("PostgreSQL", unavailable=pg))
            else:
                run_url, copy_url = pg
                column = measure("PostgreSQL", run_url, work, rows, args.rows, args.concurrency)
                if not column.unavailable:
                    copy_into(column, kmsg_env(work / "home-SQLite", sqlite_db), copy_url, work)
                columns.append(column)
    sys.stdout.write(table(args.rows, columns))


if __name__ == "__main__":
    main()
