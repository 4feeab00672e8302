"""kmsg's benchmark: one command, one table of throughput and peak RSS.

    python bench/run.py [--rows 100000] [--big 1000000] [--concurrency 4]

1. send-bulk, end to end: `kmsg send-bulk` of ROWS rows to a fake SOLAPI server (bench/fake_solapi.py,
   its own process) on 127.0.0.1: CSV parse, render, preview, journal, HTTP batches, results.
2. baseline: the same rows parsed, rendered and journaled with no HTTP and no preview: the fastest
   this machine allows for the same bookkeeping.
3. memory: `kmsg send-bulk --dry-run` over ROWS and over BIG rows: peak RSS must not grow with rows.
4. tracking: `kmsg track --once --now` over the ROWS records step 1 sent (batch status queries).

Every step runs in a child process; peak RSS is that child's own (os.wait4). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY, SECRET = "BENCHKEY0000", "BENCHSECRET0000"
TEXT = "{name}님, 주문하신 상품이 오늘 출발합니다. 주문번호 {order}"


def write_csv(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        f.write("name,phone,order\n")
        for i in range(rows):
            f.write(f"고객{i},010{20_000_000 + i * 10 + 1:08d},A{i:08d}\n")
    return path


def child_env(**extra: str) -> dict[str, str]:
    """This environment for a timed child running this checkout, with bytecode caches written and
    used as an installed copy's are: without them every module changed since the last cache would
    be compiled again on each run (PYTHONDONTWRITEBYTECODE dropped)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"PYTHONPATH": str(ROOT)} | extra


def measure(args: list[str], env: dict[str, str]) -> tuple[float, float, int, float]:
    """(seconds, peak RSS in MB, exit code, CPU seconds: user + system) of one child process.
    CPU time is the steadier figure on a busy machine."""
    started = time.perf_counter()
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - started, usage.ru_maxrss / 1024, child.returncode, cpu


def baseline(csv_path: str, db_path: str) -> None:
    """Parse + plan + journal, in chunks of 1,000, no preview and no provider call (run as a
    child): the campaign's own row planner and the ledger's write, nothing else."""
    sys.path.insert(0, str(ROOT))
    from kmsg_cli.commands._bulk_io import CsvSource
    from kmsg_cli.context import AppContext
    from kmsg_cli.core import bulk
    from kmsg_cli.core.row_planner import RowPlanner

    ctx = AppContext()
    ctx.set_options(quiet=True)  # no "using the built-in mock" notice in the table
    env = ctx.env()
    store = ctx.store()
    spec = bulk.Spec(text=TEXT)
    header, rows = CsvSource(Path(csv_path), spec.encoding).read()
    plan = RowPlanner(header, spec, env, "base", "r", preview=False)
    batch: list[tuple[object, str]] = []
    for number, values in rows:
        _, _, planned = plan(number, values)
        assert not isinstance(planned, Exception)
        batch.append((planned.message, planned.route[0]))
        if len(batch) == 1000:
            store.begin_attempts(batch, env.clock.now_ms())  # type: ignore[arg-type]
            batch = []
    store.begin_attempts(batch, env.clock.now_ms())  # type: ignore[arg-type]
    store.close()


def start_fake(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "bench/fake_solapi.py", "--api-key", KEY, "--api-secret", SECRET],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def stats(base_url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base_url}/_fake/stats") as answer:  # noqa: S310 - 127.0.0.1
        result: dict[str, int] = json.loads(answer.read())
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--baseline", nargs=2, metavar=("CSV", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        return baseline(*args.baseline)
    kmsg = [sys.executable, "-m", "kmsg_cli"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = child_env(KMSG_HOME=str(work / "home"))
        env |= {"BENCH_SOLAPI_KEY": KEY, "BENCH_SOLAPI_SECRET": SECRET}
        server, base_url = start_fake(env)
        try:
            (work / "home").mkdir()
            (work / "home" / "config.toml").write_text(
                f'[providers.sol]\ntype = "solapi"\napi_key = "env:BENCH_SOLAPI_KEY"\n'
                f'api_secret = "env:BENCH_SOLAPI_SECRET"\ndefault_from = "0212345678"\n'
                f'base_url = "{base_url}"\n'
            )
            rows = write_csv(work / "rows.csv", args.rows)
            table = []
            send = [*kmsg, "send-bulk", str(rows), "--text", TEXT, "--yes", "-q"]
            seconds, rss, code, _cpu = measure([*send, "--concurrency", str(args.concurrency)], env)
            got = stats(base_url)
            table.append(("send-bulk e2e (fake SOLAPI)", args.rows, seconds, rss, code))
            exactly_once = got["messages"] == got["unique"] == args.rows
            base_env = {**env, "KMSG_HOME": str(work / "base")}
            seconds, rss, code, _cpu = measure(
                [sys.executable, __file__, "--baseline", str(rows), str(work / "base.db")], base_env
            )
            table.append(("baseline: parse+render+journal", args.rows, seconds, rss, code))
            for n, path in ((args.rows, rows), (args.big, write_csv(work / "big.csv", args.big))):
                dry = [*kmsg, "send-bulk", str(path), "--text", TEXT, "--dry-run", "-q"]
                seconds, rss, code, _cpu = measure(dry, env)
                table.append(("send-bulk --dry-run", n, seconds, rss, code))
            track = [*kmsg, "track", "--once", "--now", "--limit", str(args.rows), "-q"]
            seconds, rss, code, _cpu = measure(track, env)
            table.append(("track --once (fake SOLAPI)", args.rows, seconds, rss, code))
        finally:
            server.terminate()
            server.wait()
    out = sys.stdout
    out.write(f"{'step':<32}{'rows':>10}{'seconds':>10}{'rows/s':>10}{'peak RSS':>11}{'exit':>6}\n")
    for name, n, seconds, rss, code in table:
        out.write(
            f"{name:<32}{n:>10,}{seconds:>10.2f}{n / seconds:>10,.0f}{rss:>8.0f} MB{code:>6}\n"
        )
    ratio = (args.rows / table[1][2]) / (args.rows / table[0][2])
    out.write(f"\nend to end is {ratio:.2f}x slower than the baseline; the fake server received ")
    out.write(f"{got['messages']:,} messages, {got['unique']:,} distinct")
    out.write(" (every row exactly once)\n" if exactly_once else " (NOT exactly once!)\n")


if __name__ == "__main__":
    main()
