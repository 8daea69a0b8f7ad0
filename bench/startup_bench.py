"""Start-up time of the CLI against Flask's own, in the same environment and the same run.

    python bench/startup_bench.py [--runs 15]

Runs `flask --help`, `affiliate --help` and `affiliate status` (on a migrated temporary
SQLite database, no config file) in turn, `--runs` times each, interleaved so a busy
moment of the machine hits all three alike, and prints each one's median and fastest wall
time and the ratios of the medians to `flask --help`'s (targets: --help within 2 x,
status within 4 x). Not a test: numbers vary with the machine; bench/RESULTS.md keeps what
was measured and how.

Every command runs from compiled bytecode, as from an installed package: bytecode goes to
the temporary directory (PYTHONPYCACHEPREFIX, whatever PYTHONDONTWRITEBYTECODE says) and
each command runs once untimed first. Otherwise a checkout run with
PYTHONDONTWRITEBYTECODE=1 compiles the service's ~50 modules on every run (~0.1 s) while
Flask's come compiled from site-packages.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def command(name: str, *args: str) -> list[str]:
    return [shutil.which(name, path=str(BIN)) or str(BIN / name), *args]


def timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {name: value for name, value in os.environ.items() if not name.startswith("AFFILIATE_")}
        env["AFFILIATE_SERVICE__DATABASE_URL"] = f"sqlite:///{tmp}/startup.db"
        env["AFFILIATE_SERVICE__DEMO_CATALOG"] = "false"
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = f"{tmp}/bytecode"
        subprocess.run(command("affiliate", "db", "upgrade"), env=env, cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        commands = {"flask --help": command("flask", "--help"),
                    "affiliate --help": command("affiliate", "--help"),
                    "affiliate status": command("affiliate", "status")}
        for argv in commands.values():
            timed(argv, env, tmp)  # writes the bytecode
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(timed(argv, env, tmp))
    flask = statistics.median(times["flask --help"])
    print(json.dumps({name: {"median_s": round(statistics.median(t), 3), "fastest_s": round(min(t), 3),
                             "median_ratio_to_flask": round(statistics.median(t) / flask, 2)}
                      for name, t in times.items()}, indent=1))


if __name__ == "__main__":
    main()
