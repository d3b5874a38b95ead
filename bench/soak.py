"""Run the containerised demo N times back to back and report what leaks.

    make soak RUNS=20          # or: python bench/soak.py --runs 20

Each run is `make up` under its own run id (and `make down` after it). The
report counts completed, failed and hung runs (a run taking longer than
--timeout), and compares Docker containers, networks and volumes and the
disk used by results/ before and after. Not part of `make test`.
"""

import argparse
import shutil
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROJECT = "sgl-soak"


def docker_objects() -> dict[str, int]:
    counts = {}
    for kind, command in [("containers", ["ps", "-aq"]), ("networks", ["network", "ls", "-q"]),
                          ("volumes", ["volume", "ls", "-q"])]:
        out = subprocess.run(["docker", *command], capture_output=True, text=True).stdout
        counts[kind] = len(out.split())
    return counts


def disk_used(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def make(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args, f"COMPOSE_PROJECT={PROJECT}"],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a run counts as hung")
    parser.add_argument("--keep", action="store_true", help="keep the runs' results")
    args = parser.parse_args()

    make("images", timeout=1800)
    before, disk_before = docker_objects(), disk_used(REPO / "results")
    outcomes = {"completed": 0, "failed": 0, "hung": 0}
    walls = []
    for i in range(args.runs):
        run_id = f"soak-{time.strftime('%Y%m%d-%H%M%S')}-{i}"
        started = time.monotonic()
        try:
            done = make("up", f"RUN_ID={run_id}", timeout=args.timeout)
            outcome = "completed" if done.returncode == 0 else "failed"
        except subprocess.TimeoutExpired:
            outcome = "hung"
        walls.append(time.monotonic() - started)
        outcomes[outcome] += 1
        make("down", timeout=300)
        if not args.keep:
            shutil.rmtree(REPO / "results" / run_id, ignore_errors=True)
        print(f"run {i + 1:3d}/{args.runs}: {outcome:9s} {walls[-1]:6.1f} s", flush=True)
    after, disk_after = docker_objects(), disk_used(REPO / "results")

    print(f"\n{args.runs} runs: " + ", ".join(f"{n} {k}" for k, n in outcomes.items()))
    print(f"wall time per run: min {min(walls):.1f} s, max {max(walls):.1f} s")
    for kind in before:
        print(f"{kind:10s} before {before[kind]:4d}  after {after[kind]:4d}  "
              f"leaked {after[kind] - before[kind]:+d}")
    print(f"results/   before {disk_before / 2**20:.1f} MiB  after {disk_after / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
