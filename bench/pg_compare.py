"""SQLite beside PostgreSQL: the same steps on each backend, one table.

    python bench/pg_compare.py [--rows 100000] [--concurrency 4] [--pg-url postgresql://...]

On each backend: `kmsg send-bulk` of ROWS rows end to end to a fake SOLAPI server on 127.0.0.1
(bench/fake_solapi.py, its own process), then one `kmsg track --once --now` pass over the ROWS
records it sent. Then `kmsg db copy` of the SQLite database into a fresh PostgreSQL database, and
`kmsg status` on both must show the same counts. Every step is a child process. Without
--pg-url a throwaway PostgreSQL cluster is started like the tests start theirs (tests/pg.py).
Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import KEY, SECRET, TEXT, measure, start_fake, stats, write_csv  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pg-url", help="an empty database to use (default: a throwaway cluster)")
    args = parser.parse_args()
    cluster = None
    if args.pg_url:
        urls = [args.pg_url, args.pg_url + "_copy"]  # the copy target: create it beforehand
    else:
        from tests.pg import Cluster, find_bin

        bin_dir = find_bin()
        if bin_dir is None:
            sys.exit("no PostgreSQL server binaries: apt install postgresql, or pass --pg-url")
        cluster = Cluster(bin_dir).start()
        urls = [cluster.new_database(), cluster.new_database()]
    kmsg = [sys.executable, "-m", "kmsg_cli", "-q"]
    table: list[tuple[str, str, int, float, float, int]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            rows = write_csv(work / "rows.csv", args.rows)
            for backend, db in (("sqlite", str(work / "kmsg.db")), ("postgres", urls[0])):
                home = work / backend
                home.mkdir()
                env = {**os.environ, "PYTHONPATH": str(ROOT), "KMSG_HOME": str(home)}
                env |= {"KMSG_DB": db, "BENCH_SOLAPI_KEY": KEY, "BENCH_SOLAPI_SECRET": SECRET}
                server, base_url = start_fake(env)
                try:
                    (home / "config.toml").write_text(
                        f'[providers.sol]\ntype = "solapi"\napi_key = "env:BENCH_SOLAPI_KEY"\n'
                        f'api_secret = "env:BENCH_SOLAPI_SECRET"\ndefault_from = "0212345678"\n'
                        f'base_url = "{base_url}"\n'
                    )
                    send = [*kmsg, "send-bulk", str(rows), "--text", TEXT, "--yes"]
                    send += ["--concurrency", str(args.concurrency)]
                    seconds, rss, code = measure(send, env)
                    got = stats(base_url)
                    assert got["messages"] == got["unique"] == args.rows, got
                    table.append(("send-bulk e2e", backend, args.rows, seconds, rss, code))
                    track = [*kmsg, "track", "--once", "--now", "--limit", str(args.rows)]
                    seconds, rss, code = measure(track, env)
                    table.append(("track --once --now", backend, args.rows, seconds, rss, code))
                finally:
                    server.terminate()
                    server.wait()
            env = {**os.environ, "PYTHONPATH": str(ROOT), "KMSG_HOME": str(work / "sqlite")}
            env["KMSG_DB"] = str(work / "kmsg.db")
            seconds, rss, code = measure([*kmsg, "db", "copy", "--to", urls[1]], env)
            table.append(("db copy sqlite -> postgres", "both", args.rows, seconds, rss, code))
            counts = [status_counts(env, db) for db in (str(work / "kmsg.db"), urls[1])]
            same = counts[0] == counts[1]
    finally:
        if cluster is not None:
            cluster.stop()
    out = sys.stdout
    out.write(f"{'step':<28}{'backend':>10}{'rows':>9}{'seconds':>9}{'rows/s':>9}")
    out.write(f"{'peak RSS':>10}{'exit':>6}\n")
    for step, backend, n, seconds, rss, code in table:
        out.write(f"{step:<28}{backend:>10}{n:>9,}{seconds:>9.1f}{n / seconds:>9,.0f}")
        out.write(f"{rss:>8.0f}MB{code:>6}\n")
    out.write(f"status after copy: {counts[1]} ({'same as' if same else 'DIFFERS from'} SQLite)\n")


def status_counts(env: dict[str, str], db: str) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-m", "kmsg_cli", "status", "--json", "--limit", "1", "--db", db],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    counts: dict[str, int] = json.loads(done.stdout)["counts"]["status"]
    return counts


if __name__ == "__main__":
    main()
