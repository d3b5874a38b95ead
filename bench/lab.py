"""The lab's speed and memory, side by side in one run on this machine.

    make bench                         # everything: about 25 minutes on 2 cores
    python bench/lab.py --only inprocess,split

Sections (``--only`` picks some): ``inprocess`` and ``containers`` (the demo
day both ways, and their ratio on a line of its own), ``split`` (where a
step's time goes, from cProfile), ``engines`` (each grid engine on the same
day), ``numeric`` (what the lab's fixed numeric kernels cost), ``grading``
(a class's submissions graded with JOBS=1 and JOBS=2), ``scaling`` (the demo
day in-process on growing SimBench grids, up to 11,542 houses; the largest
in containers: ``in_containers(1, "simbench:1-MVLV-urban-all-0-sw")``). Figures, not
pass/fail; on a machine with other load, CPU times are the steadier ones.
"""

import argparse
import csv
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from smartgrid_lab import datagen, grids, numeric
from smartgrid_lab.listening import free_port

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "scenarios" / "demo.py"
STEPS = 24 * 60
SECTIONS = ("inprocess", "containers", "split", "engines", "numeric", "grading", "scaling")
ENGINES = {  # the grid engines that read the lab's grid, by the class a swap names
    "PgmGrid (default)": None,
    "mosaik-pypower (PYPOWER)": "mosaik_components.mosaik_pypower.mosaik:PyPower",
    "PandapowerGrid": "smartgrid_lab.pandapower_grid:PandapowerGrid",
}


def scenario(results: Path, run_id: str, *args: str, python=(sys.executable,)) -> dict:
    """Run the demo in this machine's Python; wall and CPU time, peak memory."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*python, str(DEMO), "--results", str(results), "--run-id", run_id,
         "--serve", f"127.0.0.1:{free_port()}", *args],
        env=os.environ | {"PYTHONPATH": str(REPO / "src")} | numeric.fixed_environment(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"run {run_id} failed:\n{process.stderr.read().decode()[-2000:]}")
    record = json.loads((results / run_id / "manifest.json").read_text())
    return {"wall": time.perf_counter() - started, "run": record["wall_seconds"],
            "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024,
            "hdf5_mib": (results / run_id / "demo.hdf5").stat().st_size / 2**20}


def median(figures: list[dict], key: str) -> float:
    return statistics.median(f[key] for f in figures)


def in_process(results: Path, runs: int) -> float:
    figures = [scenario(results, f"bench-{i}") for i in range(runs)]
    print(f"demo day in-process ({runs} runs, 1-minute steps, {STEPS} steps):")
    print(f"  run wall time      median {median(figures, 'run'):6.1f} s   "
          f"(whole command {median(figures, 'wall'):.1f} s, CPU {median(figures, 'cpu'):.1f} s)")
    print(f"  speed              {STEPS / median(figures, 'run'):6.0f} simulated minutes per second")
    print(f"  peak memory (RSS)  {max(f['rss_mib'] for f in figures):6.0f} MiB, "
          f"HDF5 file {figures[0]['hdf5_mib']:.1f} MiB")
    return median(figures, "run")


def make(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def in_containers(runs: int, grid: str = "") -> float:
    """The demo day in containers (``make up``), on the lab's grid or *grid* (GRID=)."""
    built = make("images")
    if built.returncode != 0:
        sys.exit(f"make images failed:\n{built.stderr[-2000:]}")
    figures = []
    for i in range(runs):
        run_id, project = f"bench-{os.getpid()}-{i}", f"sgl-bench-{os.getpid()}"
        started = time.perf_counter()
        try:
            up = make("up", f"RUN_ID={run_id}", f"COMPOSE_PROJECT={project}",
                      *([f"GRID={grid}"] if grid else []))
            wall = time.perf_counter() - started
            if up.returncode != 0:
                sys.exit(f"make up failed:\n{up.stderr[-2000:]}")
            record = json.loads((REPO / "results" / run_id / "manifest.json").read_text())
            figures.append({"wall": wall, "run": record["wall_seconds"]})
        finally:
            make("down", f"COMPOSE_PROJECT={project}", timeout=300)
            shutil.rmtree(REPO / "results" / run_id, ignore_errors=True)
    print(f"demo day in containers ({runs} runs, make up{' GRID=' + grid if grid else ''}):")
    print(f"  run wall time      median {median(figures, 'run'):6.1f} s   "
          f"(whole make up, with start-up and tear-down {median(figures, 'wall'):.1f} s)")
    return median(figures, "run")


# Where a step's time goes: the simulators' step() (and the page's) by the
# file they live in; the rest is mosaik's scheduling and data exchange.
PARTS = {
    "power flow (grid step)": ("smartgrid_lab/grid_engine.py", "mosaik_pypower/mosaik.py"),
    "households and PV (their steps)": ("household/mosaik.py", "mosaik_csv"),
    "recording (HDF5 step)": "smartgrid_lab/recorder.py",
    "page (visualiser step)": ("smartgrid_lab/web.py", "mosaik_web"),
}


def split(results: Path) -> None:
    profile = results / "demo.prof"
    scenario(results, "bench-profile", python=(sys.executable, "-m", "cProfile", "-o", str(profile)))
    stats = pstats.Stats(str(profile))
    total = stats.total_tt
    print("per-step cost (one in-process day under cProfile, which slows it down; "
          f"{total:.1f} s profiled):")
    spent = 0.0
    for part, files in PARTS.items():
        files = (files,) if isinstance(files, str) else files
        seconds = sum(entry[3] for (file, _, name), entry in stats.stats.items()
                      if name in ("step", "get_data") and any(f in file for f in files))
        spent += seconds
        print(f"  {part:42s} {1000 * seconds / STEPS:6.2f} ms/step  {100 * seconds / total:4.0f} %")
    rest = total - spent
    print(f"  {'mosaik scheduling, data exchange, start-up':42s} "
          f"{1000 * rest / STEPS:6.2f} ms/step  {100 * rest / total:4.0f} %")


def engines(results: Path, runs: int) -> None:
    print(f"grid engines, the same demo day in-process ({runs} runs each):")
    for number, (engine, swap) in enumerate(ENGINES.items()):
        figures = [scenario(results, f"bench-engine-{number}-{i}",
                            *(["--swap", f"Grid={swap}"] if swap else [])) for i in range(runs)]
        print(f"  {engine:28s} run wall median {median(figures, 'run'):6.1f} s   "
              f"CPU {median(figures, 'cpu'):6.1f} s")


def numeric_cost() -> None:
    probe = REPO / "bench" / "power_flows.py"
    fixed = numeric.fixed_environment()
    native = {name: value for name, value in os.environ.items() if name not in fixed}
    timings = {}
    for label, environment in (("kernels the libraries pick themselves", native),
                               ("the lab's fixed kernels", os.environ | fixed)):
        done = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True,
                              env=environment | {"PYTHONPATH": str(REPO / "src")}, check=True)
        timings[label] = json.loads(done.stdout)
    print(f"numeric environment: {STEPS} power flows of the lab grid (PYPOWER), CPU time:")
    for label, figures in timings.items():
        print(f"  {label:42s} {figures['cpu']:6.2f} s")


def grading(submissions: int) -> None:
    print(f"grading a class: {submissions} submissions (exercise model, its starter), "
          "each run in containers:")
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as folder:
            for i in range(submissions):
                student = Path(folder) / f"student{i}"
                shutil.copytree(REPO / "templates" / "simulator", student)
                shutil.copy(REPO / "exercises" / "model" / "starter" / "simulator.py", student)
            started = time.perf_counter()
            done = make("grade-batch", f"DIR={folder}", "EX=model", f"JOBS={jobs}", timeout=3600)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                sys.exit(f"make grade-batch failed:\n{done.stderr[-2000:]}")
            with open(Path(folder) / "grades.csv") as table:
                graded = sum(1 for row in csv.DictReader(table) if row["verdict"] != "ERROR")
        print(f"  JOBS={jobs}   {wall:6.0f} s   {60 * submissions / wall:5.2f} submissions per minute"
              f"   ({graded}/{submissions} graded)")


GROWING = (None, "1-LV-rural3--0-sw", "1-MV-rural--0-sw", "1-MVLV-rural-all-0-sw",
           "1-MVLV-semiurb-all-0-sw", "1-MVLV-urban-all-0-sw")  # the lab's grid, SimBench's


def scaling(results: Path) -> None:
    print("scaling: the demo day in-process on growing grids (one run each; the lab's grid "
          "steps every minute, SimBench's every 15):")
    print(f"  {'grid':26s} {'houses':>7s} {'buses':>6s} {'run wall':>9s} {'command':>8s} "
          f"{'CPU':>7s} {'peak RSS':>9s}")
    for number, code in enumerate(GROWING):
        run_id = f"bench-scaling-{number}"
        figures = scenario(results, run_id, *(["--grid", grids.SIMBENCH + code] if code else []))
        folder = results / run_id / "grid" if code else datagen.DATA_DIR
        grid_file = folder / (f"{code}.json" if code else datagen.GRID_FILE)
        buses = len(json.loads(grid_file.read_text())["bus"])
        houses = len(grids.house_buses(folder / datagen.HOUSEHOLDS_FILE))
        print(f"  {code or 'lab (data/grid.json)':26s} {houses:7d} {buses:6d} "
              f"{figures['run']:7.1f} s {figures['wall']:6.1f} s {figures['cpu']:5.1f} s "
              f"{figures['rss_mib']:5.0f} MiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each in-process figure")
    parser.add_argument("--container-runs", type=int, default=2)
    parser.add_argument("--submissions", type=int, default=4)
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated, of: {', '.join(SECTIONS)}")
    args = parser.parse_args()
    chosen = args.only.split(",")
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {', '.join(sorted(unknown))}; there are {', '.join(SECTIONS)}")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"Smart Grid Lab benchmark: {os.cpu_count()} cores ({cpu}), Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}; "
          "all sections take about 25 minutes.", flush=True)
    with tempfile.TemporaryDirectory() as results:
        results = Path(results)
        local = in_process(results, args.runs) if "inprocess" in chosen else None
        remote = in_containers(args.container_runs) if "containers" in chosen else None
        if local and remote:
            print(f"containers/in-process ratio: {remote / local:.2f}")
        if "split" in chosen:
            split(results)
        if "engines" in chosen:
            engines(results, args.runs)
        if "numeric" in chosen:
            numeric_cost()
        if "scaling" in chosen:
            scaling(results)
    if "grading" in chosen:
        grading(args.submissions)


if __name__ == "__main__":
    main()
