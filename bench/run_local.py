"""Speed and memory of the demo, every simulator in one process.

    make bench                       # 3 runs
    python bench/run_local.py --runs 5
    python bench/run_local.py --swap Grid=smartgrid_lab.pgm_grid:PgmGrid   # another grid engine

Prints wall time, CPU time (less disturbed by other load on the machine),
simulated minutes per wall second, peak memory (RSS) of the run's process and
the size of the HDF5 file; figures, not pass/fail.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from smartgrid_lab.listening import free_port

REPO = Path(__file__).resolve().parents[1]
STEPS = 24 * 60


def one_run(results: Path, run_id: str, swaps: list[str]) -> dict:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(REPO / "scenarios" / "demo.py"), "--results", str(results),
         "--run-id", run_id, "--serve", f"127.0.0.1:{free_port()}",
         *(f"--swap={swap}" for swap in swaps)],
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"run {run_id} failed; run it with `make run-local` to see why")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mib": usage.ru_maxrss / 1024,
            "hdf5_mib": (results / run_id / "demo.hdf5").stat().st_size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--swap", action="append", default=[], metavar="NAME=MODULE:CLASS",
                        help="run another simulator class in place of NAME, as the demo's --swap")
    args = parser.parse_args()
    runs = args.runs
    with tempfile.TemporaryDirectory() as results:
        figures = [one_run(Path(results), f"bench-{i}", args.swap) for i in range(runs)]
    walls = [f["wall"] for f in figures]
    swapped = "".join(f", {swap}" for swap in args.swap)
    print(f"demo, one day at 1-minute steps, all simulators in-process{swapped}, {runs} runs:")
    print(f"  wall time          median {statistics.median(walls):6.1f} s   "
          f"min {min(walls):6.1f} s   max {max(walls):6.1f} s")
    print(f"  CPU time           median {statistics.median(f['cpu'] for f in figures):6.1f} s")
    print(f"  speed              {STEPS / statistics.median(walls):6.0f} simulated minutes per second")
    print(f"  peak memory (RSS)  {max(f['rss_mib'] for f in figures):6.0f} MiB")
    print(f"  HDF5 file          {figures[0]['hdf5_mib']:6.1f} MiB")


if __name__ == "__main__":
    main()
