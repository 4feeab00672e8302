"""Start-up time: the median wall time of short kmsg commands, each in a fresh child process.

    python bench/startup.py [-n 30]

Prints, per command, the median and fastest wall time and the median CPU time. Cases, each run N
times after one untimed warm-up (which also writes the bytecode caches):

- ``python -c pass``: the interpreter alone, the floor every command pays;
- ``kmsg --version``, reported with its ratio to that floor;
- ``kmsg send --to 01012345678 --text hi`` in a fresh, empty KMSG_HOME: no config file, so the
  built-in mock provider, and the database created and migrated on the way;
- ``kmsg status`` in that same KMSG_HOME, now holding the one message just sent;
- ``kmsg status`` in a KMSG_HOME with a config file (a SOLAPI provider), which an untimed run
  before checked: the settings it gave come from the cache (config_cache.py), not pydantic.

kmsg is started the way the ``kmsg`` console script starts it (import ``kmsg_cli.app``, call
``main``), from this checkout rather than an installed copy, with bytecode caches written and used
as an installed copy's are (PYTHONDONTWRITEBYTECODE is dropped for the children). Wall time
includes process creation and exit. Run it on a quiet machine; it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# what the generated `kmsg` console script does
KMSG = [
    sys.executable,
    "-c",
    "import re, sys; from kmsg_cli.app import main; sys.argv[0] = 'kmsg'; sys.exit(main())",
]
SEND = ["send", "--to", "01012345678", "--text", "hi"]
CONFIG = """[providers.sol]
type = "solapi"
api_key = "env:SOLAPI_API_KEY"
api_secret = "env:SOLAPI_API_SECRET"
default_from = "0212345678"
"""


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one child process, start to exit; a failing command stops the bench.
    CPU time (user + system, the child's own) is steadier than wall time on a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args[3:])}: exit {done.returncode}\n{done.stderr.decode()}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="timed runs per case (default 30)")
    args = parser.parse_args()

    base = {k: v for k, v in os.environ.items() if not k.startswith("KMSG_")}
    base["PYTHONPATH"] = str(ROOT)
    base.pop("NO_COLOR", None)
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    samples: dict[str, list[tuple[float, float]]] = {
        "pass": [],
        "version": [],
        "send": [],
        "status": [],
        "configured": [],
    }
    with tempfile.TemporaryDirectory(prefix="kmsg-startup-") as tmp:
        for run in range(args.n + 1):
            home = Path(tmp) / f"home{run}"
            home.mkdir()
            env = {**base, "KMSG_HOME": str(home)}
            configured = Path(tmp) / f"configured{run}"
            configured.mkdir()
            (configured / "config.toml").write_text(CONFIG)
            configured_env = {**base, "KMSG_HOME": str(configured)}
            timed([*KMSG, "status"], configured_env)  # checks the file, and remembers it
            times = {
                "pass": timed([sys.executable, "-c", "pass"], env),
                "version": timed([*KMSG, "--version"], env),
                "send": timed([*KMSG, *SEND], env),
                "status": timed([*KMSG, "status"], env),
                "configured": timed([*KMSG, "status"], configured_env),
            }
            if run:  # the first round is the warm-up
                for case, ms in times.items():
                    samples[case].append(ms)

    wall = {case: statistics.median(w for w, _ in values) for case, values in samples.items()}
    cpu = {case: statistics.median(c for _, c in values) for case, values in samples.items()}
    out = sys.stdout
    out.write(f"{'command':<48}{'median ms':>10}{'min ms':>9}{'CPU ms':>9}\n")
    labels = {
        "pass": "python -c pass",
        "version": "kmsg --version",
        "send": "kmsg send --to 01012345678 --text hi (mock)",
        "status": "kmsg status",
        "configured": "kmsg status (a config file, checked before)",
    }
    for case, label in labels.items():
        fastest = min(w for w, _ in samples[case])
        out.write(f"{label:<48}{wall[case]:>10.1f}{fastest:>9.1f}{cpu[case]:>9.1f}\n")
    ratio = wall["version"] / wall["pass"]
    out.write(f"\nkmsg --version takes {ratio:.2f}x python -c pass ({args.n} runs each)\n")


if __name__ == "__main__":
    main()
