"""kmsg beside the official SOLAPI SDK and kmsg's own no-HTTP baseline, on the same fake server.

    python bench/compare.py [--rows 20000 100000] [--repeat 3] [--startup 10] [--warm]

For each size: alternating runs of `kmsg send-bulk` (every row journaled before it is sent and
recorded after) followed by `kmsg track --once --now` over what it sent, the SDK
(bench/sdk_reference.py, journals nothing), the plain script (bench/plain_reference.py: the same
journal, nothing more) and the baseline (kmsg's parse, plan, journal; no HTTP), each a child
process against a fresh fake SOLAPI; the best of ``--repeat`` runs is shown, with kmsg's ratios to
the SDK and to the plain script and the CPU time (user + system) per row, which is steadier than
wall time on a busy machine. kmsg's start-up is the CPU of the same command over a one-row file;
"kmsg after" is its CPU per row once that is paid. Every run has a fresh KMSG_HOME, so kmsg's first
command there checks the config file in full and makes the database; with ``--warm`` an untimed
`kmsg status` has done both, as for anyone who used kmsg before. Then the start-up table of
bench/startup.py. Needs the ``bench`` extra for the SDK.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an install

from bench.run import (
    KEY,
    ROOT,
    SECRET,
    TEXT,
    child_env,
    measure,
    start_fake,
    stats,
    write_csv,
)  # noqa: E402

NAMES = ("kmsg", "sdk", "plain", "baseline")
START = "kmsg start-up"  # the same command over a one-row file: what no row pays for


def one_round(
    work: Path, rows: Path, n: int, env: dict[str, str], warm: bool
) -> dict[str, tuple[float, float]]:
    """name -> (seconds, CPU seconds) of one run of each. ``warm``: kmsg has run in its
    KMSG_HOME before (an untimed `kmsg status`), so its config file was checked and its database
    made, as for anyone who used kmsg before; else both happen inside the timed run."""
    times: dict[str, tuple[float, float]] = {}
    one_row = write_csv(work / "one-row.csv", 1)
    for name in (*NAMES, START):
        home = Path(tempfile.mkdtemp(dir=work))
        run_env = {**env, "KMSG_HOME": str(home)}
        server, base_url = start_fake(run_env)
        try:
            (home / "config.toml").write_text(
                f'[providers.sol]\ntype = "solapi"\napi_key = "env:BENCH_SOLAPI_KEY"\n'
                f'api_secret = "env:BENCH_SOLAPI_SECRET"\ndefault_from = "0212345678"\n'
                f'base_url = "{base_url}"\n'
            )
            if name in ("kmsg", START):
                if warm:
                    status = [sys.executable, "-m", "kmsg_cli", "status", "-q"]
                    subprocess.run(status, env=run_env, cwd=ROOT, check=True, capture_output=True)
                source = rows if name == "kmsg" else one_row
                args = [sys.executable, "-m", "kmsg_cli", "send-bulk", str(source), "--text", TEXT]
                args += ["--yes", "-q"]
            elif name == "sdk":
                args = [sys.executable, str(ROOT / "bench" / "sdk_reference.py"), str(rows)]
                args.append(base_url)
            elif name == "plain":
                args = [sys.executable, str(ROOT / "bench" / "plain_reference.py"), str(rows)]
                args += [base_url, str(home / "plain.db")]
            else:
                args = [sys.executable, str(ROOT / "bench" / "run.py"), "--baseline", str(rows)]
                args.append(str(home / "base.db"))
            seconds, _rss, code, cpu = measure(args, run_env)
            if code != 0:
                raise SystemExit(f"{name} exited {code}")
            if name != "baseline":  # every row accepted once (the SDK sends no kmsg id to count)
                got, sent = stats(base_url), 1 if name == START else n
                assert got["messages"] == sent, (name, got)
                assert name == "sdk" or got["unique"] == sent, (name, got)
            times[name] = (seconds, cpu)
            if name == "kmsg":  # then one tracking pass over every row it sent
                track = [sys.executable, "-m", "kmsg_cli", "track", "--once", "--now", "-q"]
                seconds, _rss, code, cpu = measure([*track, "--limit", str(n)], run_env)
                if code != 0:
                    raise SystemExit(f"track exited {code}")
                times["track"] = (seconds, cpu)
        finally:
            server.terminate()
            server.wait()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--startup", type=int, default=10, metavar="N", help="start-up runs after (0: none)"
    )
    parser.add_argument(
        "--warm", action="store_true", help="kmsg has run before: config checked, database made"
    )
    args = parser.parse_args()
    env = child_env()
    env |= {"BENCH_SOLAPI_KEY": KEY, "BENCH_SOLAPI_SECRET": SECRET}
    out = sys.stdout
    out.write(f"{'rows':>8}{'kmsg s':>8}{'SDK s':>7}{'plain s':>9}{'base s':>8}")
    out.write(f"{'kmsg/SDK':>10}{'kmsg/plain':>12}{'CPU µs/row: kmsg':>18}")
    out.write(f"{'SDK':>5}{'plain':>7}{'base':>6}{'kmsg start-up ms':>18}{'kmsg after':>12}")
    out.write(f"{'track rec/s':>13}\n")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in args.rows:
            rows = write_csv(work / f"rows-{n}.csv", n)
            best: dict[str, float] = {}
            cpu: dict[str, float] = {}
            for _ in range(args.repeat):
                for name, (seconds, used) in one_round(work, rows, n, env, args.warm).items():
                    best[name] = min(best.get(name, seconds), seconds)
                    cpu[name] = min(cpu.get(name, used), used)
            k, s, p, b = (best[name] for name in NAMES)
            out.write(f"{n:>8,}{k:>8.2f}{s:>7.2f}{p:>9.2f}{b:>8.2f}{k / s:>10.2f}{k / p:>12.2f}")
            kc, sc, pc, bc = (cpu[name] / n * 1e6 for name in NAMES)
            out.write(f"{kc:>18.0f}{sc:>5.0f}{pc:>7.0f}{bc:>6.0f}")
            start = cpu[START]  # the kmsg CPU per row once start-up is paid
            out.write(f"{start * 1000:>18.0f}{(cpu['kmsg'] - start) / (n - 1) * 1e6:>12.0f}")
            out.write(f"{n / best['track']:>13,.0f}\n")
            out.flush()
    if args.startup:
        out.write("\n")
        out.flush()
        startup = [sys.executable, str(ROOT / "bench" / "startup.py"), "-n", str(args.startup)]
        subprocess.run(startup, check=True)


if __name__ == "__main__":
    main()
