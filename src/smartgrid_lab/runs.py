"""Run a scenario: the one entry point for local runs and container runs.

A scenario file defines its ``SIM_CONFIG`` and a ``create_scenario(world,
run)`` function, and hands both to :func:`main`. This module does the rest:
the command line, the run directory, local or container addresses, the
real-time factor, a clear one-paragraph error instead of a traceback, and the
manifest, written whether the run completes or fails.
"""

import argparse
import dataclasses
import os
import re
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import mosaik

from smartgrid_lab import exercises, kpis, manifest, numeric, simulators

REPO = Path(__file__).resolve().parents[2]
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
PROGRESS_EVERY = 5  # wall seconds between progress lines without a terminal
TOO_SLOW = re.compile(r"Simulation too slow for real-time factor \S+ - (?P<behind>[0-9.e-]+)s")


class RunError(Exception):
    """A problem a user can fix, reported without a traceback."""


@dataclasses.dataclass
class Run:
    """One run of a scenario, as the scenario's ``create_scenario`` sees it."""

    run_id: str
    directory: Path
    hdf5_file: Path
    remote: bool
    web_serve: str
    """Where an in-process visualiser serves its page (containers set their own)."""
    exercise: str | None = None
    """The exercise the run is for: the page follows its objectives."""
    page: object = None
    """The visualiser (``world.start`` of smartgrid_lab.web), if the scenario
    shows the run: the runner tells it how the run ended."""
    params: dict = dataclasses.field(default_factory=dict)
    """The scenario's parameters, for the manifest; ``create_scenario`` may
    complete them (the step its grid needs)."""
    grid: str | None = None
    """The grid the user chose (``--grid``, GRID=), for a scenario that takes one."""
    grid_facts: dict | None = None
    """What the scenario says about its grid, for the manifest."""

    def start_page(self, world, **params):
        """Start the scenario's visualiser ("Web"), following the exercise's
        objectives: here, serving its page where ``--serve`` says and listing
        the runs in ``results/``; in containers, the web service does both."""
        local = {} if self.remote else {"serve_addr": self.web_serve,
                                        "results": str(self.directory.parent)}
        self.page = world.start("Web", **params, **local, exercise=self.exercise)
        return self.page

    def build(self, world, create_scenario) -> None:
        """The scenario's world, whose page also gets what the recorder
        records, for the exercise's objectives (if it has any)."""
        create_scenario(world, self)
        objectives = exercises.objectives_of(self.exercise)
        if self.page is not None and objectives:
            read = [kpis.types_read(o.kpi, o.params) for o in objectives if o.kpi in kpis.KPIS]
            show_recorded(world, None if None in read else set().union(*read))


def show_recorded(world, types: set[str] | None) -> None:
    """Connect every value of an entity of *types* (None: any) the scenario
    records (into a ``Database``) to the page's ``Topology`` too, where it
    has not been already.

    mosaik offers no public list of a world's connections before it runs;
    its pending connections (mosaik 3.7) are that list.
    """
    pending = world._async_world._pending_connections
    topology = next((c.dest_entity for c in pending if c.dest_entity.type == "Topology"), None)
    if topology is None:
        return
    shown = {(c.src_entity.full_id, c.src_attr) for c in pending if c.dest_entity is topology}
    recorded = {}  # {entity: [attr, ...]}, in the order recorded
    for c in list(pending):
        if (c.dest_entity.type == "Database" and (types is None or c.src_entity.type in types)
                and (c.src_entity.full_id, c.src_attr) not in shown):
            recorded.setdefault(c.src_entity, []).append(c.src_attr)
    for entity, attrs in recorded.items():
        world.connect(entity, topology, *attrs)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Run a Smart Grid Lab scenario.")
    parser.add_argument(
        "--remote", action="store_true",
        help="reach every simulator in its container (service NAME, port 5555) "
             "instead of running it in this process",
    )
    parser.add_argument(
        "--rt-factor", type=float, default=float(os.environ.get("LAB_RT_FACTOR") or 0),
        help="seconds of wall time per simulated second, for watching "
             "(e.g. 0.002: a day in about 3 minutes); 0 = as fast as possible",
    )
    parser.add_argument("--run-id", default=os.environ.get("LAB_RUN_ID"),
                        help="name of the run's directory (default: UTC time and scenario)")
    parser.add_argument("--results", type=Path, default=REPO / "results",
                        help="folder that holds one directory per run")
    parser.add_argument("--connect-timeout", type=float,
                        default=float(os.environ.get("LAB_CONNECT_TIMEOUT") or 60),
                        help="seconds to wait for each simulator container to come up")
    parser.add_argument("--call-timeout", type=float,
                        default=float(os.environ.get("LAB_CALL_TIMEOUT") or 120),
                        help="seconds a simulator container may take to answer one call")
    parser.add_argument("--serve", default="127.0.0.1:8000",
                        help="where the in-process visualiser serves its page (local runs)")
    parser.add_argument("--swap", action="append", default=[], metavar="NAME=MODULE:CLASS",
                        help="run another simulator class in place of NAME (or its service "
                             "name); MODULE may be a file, services/mine/simulator.py (local "
                             "runs; in containers, swap the service instead: make up SWAP=...)")
    parser.add_argument("--grid", default=os.environ.get("LAB_GRID") or None,
                        help="the grid to simulate: a mosaik-pypower grid file (.json, .xlsx) "
                             "or simbench:<code>; default the lab's data/grid.json "
                             "(scenarios that take a grid: the demo)")
    parser.add_argument("--until", type=int, default=None, metavar="SECONDS",
                        help="end the run after this many simulated seconds "
                             "(default: the scenario's end, a day)")
    parser.add_argument("--exercise", default=os.environ.get("LAB_EXERCISE"),
                        help="the exercise this run is for, which `make grade` grades it on "
                             "(default: the scenario's name)")
    return parser.parse_args(argv)


def swapped(sim_config: dict, swaps: list[str]) -> dict:
    """``sim_config`` with each ``NAME=MODULE:CLASS`` put in place of NAME."""
    sim_config = dict(sim_config)
    names = {name.lower(): name for name in sim_config}  # a service name says it too
    for swap in swaps:
        name, _, target = swap.partition("=")
        name = names.get(name.lower(), name)
        if name not in sim_config or ":" not in target:
            raise RunError(f"cannot swap {swap!r}: expected NAME=MODULE:CLASS with NAME one "
                           f"of the scenario's simulators ({', '.join(sim_config)}).")
        sim_config[name] = {"python": target}
    return sim_config


def swapped_in(described: dict, swaps: list[str]) -> dict:
    """``{simulator: what ran in its place}`` for the manifest: the local
    ``--swap``s, and the containers whose image is not their service's own."""
    swapped = {}
    for name, simulator in described.items():
        if "service" in simulator and simulator["image"] not in (
                None, f"smartgrid-lab/{simulator['service']}"):
            swapped[name] = simulator["image"]
    for swap in swaps:
        name, _, target = swap.partition("=")
        swapped[next((n for n in described if n.lower() == name.lower()), name)] = target
    return swapped


def new_run(args, scenario: str, params: dict | None = None) -> Run:
    run_id = args.run_id or f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{scenario}"
    if not RUN_ID.fullmatch(run_id):
        raise RunError(
            f"invalid run id {run_id!r}: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit, at most 80 characters."
        )
    directory = args.results / run_id
    # (`make up GRID=file` puts the file in input/ first, where the master container sees it)
    if directory.exists() and any(path.name != "input" for path in directory.iterdir()):
        raise RunError(f"run {run_id!r} already exists in {directory}: choose another run id.")
    directory.mkdir(parents=True, exist_ok=True)
    return Run(run_id, directory, directory / f"{scenario}.hdf5", args.remote, args.serve,
               args.exercise or scenario, params=dict(params or {}), grid=args.grid)


def service_images() -> dict[str, tuple[str, str]]:
    """``{service: (image, image id)}`` from the Makefile's ``LAB_IMAGES``
    (``service=image@id ...``): what really ran, swapped simulators included."""
    images = {}
    for entry in os.environ.get("LAB_IMAGES", "").split():
        service, _, image = entry.partition("=")
        name, _, image_id = image.partition("@")
        images[service] = (name, image_id)
    return images


def describe_simulators(sim_config: dict) -> dict:
    """How each simulator was reached, with its image where the Makefile named it
    and, once started, the numeric environment each container reported."""
    images = service_images()
    described = {}
    for name, starter in sim_config.items():
        if isinstance(starter, simulators.RetryingConnect):
            image, image_id = images.get(starter.host, (None, None))
            described[name] = {"connect": f"{starter.host}:{starter.port}",
                               "service": starter.host, "image": image, "image_id": image_id,
                               "numeric": starter.numeric}
        else:
            described[name] = {"python": starter.spec}
    return described


STOP_REQUESTED = threading.Event()
"""Set by Ctrl-C or `make down`: mosaik may swallow the KeyboardInterrupt."""


def stop_on_signal(signum, frame):
    """The first SIGINT/SIGTERM stops the run; later ones are ignored, so that
    the clean-up they would interrupt (closing simulators, the manifest) ends.
    Ctrl-C under `make up` brings two: Compose forwards it, then stops the
    container."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    STOP_REQUESTED.set()
    raise KeyboardInterrupt


def simulated_time_reached(world) -> int:
    """The simulated time (s) every simulator had completed, 0 if none started."""
    runners = world.compile(use_cache=True).values() if world else []
    return max(0, min((runner.last_step.time for runner in runners), default=0))


def reached_the_end(world, until: int) -> bool:
    """Whether every simulator's progress reached ``until``.

    mosaik's ``World.run`` can return normally from a run that stopped early
    (it logs a remote simulator's error, or a Ctrl-C, and returns), so a
    normal return alone never means "completed".
    """
    runners = world.compile(use_cache=True).values()
    return all(runner.progress.time.time >= until for runner in runners)


def main(scenario_file: str, sim_config: dict, create_scenario, until: int,
         params: dict, argv=None, takes_grid: bool = False) -> int:
    """Run ``create_scenario`` until ``until`` (seconds); return the exit code.

    A scenario that *takes_grid* finds the user's grid in ``run.grid`` and
    puts what the manifest should say about it in ``run.grid_facts``.
    """
    numeric.ensure()
    args = parse_args(argv)
    scenario = Path(scenario_file).stem
    until = args.until or until
    try:
        if args.grid and not takes_grid:
            raise RunError(f"scenario {scenario} runs on the lab's grid only, not on "
                           f"GRID={args.grid}: the demo takes another grid (make run-local "
                           "GRID=...).")
        if takes_grid:
            params = {**params, "grid": args.grid or "lab"}
        sim_config = swapped(sim_config, args.swap)
        run = new_run(args, scenario, params)
    except RunError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.remote:
        sim_config = simulators.in_containers(sim_config, timeout=args.connect_timeout,
                                              call_timeout=args.call_timeout)
    else:
        sim_config = simulators.in_process(sim_config)

    record = describe_run(run, scenario_file, sim_config, until, args.rt_factor)
    record["exercise"] = run.exercise
    record["swapped"] = swapped_in(record["simulators"], args.swap)
    record["page"] = os.environ.get("LAB_PAGE") if args.remote else f"http://{args.serve}"
    print(f"Run {run.run_id}: scenario {scenario}, simulators "
          f"{'in containers' if args.remote else 'in this process'}, "
          f"results in {shown(run.directory)}", flush=True)
    started = time.monotonic()
    outcome = run_world(sim_config, create_scenario, run, until, args.rt_factor)
    if run.grid_facts:
        record["grid"] = run.grid_facts
    record.update(outcome, simulators=describe_simulators(sim_config),  # with their reports
                  finished_utc=datetime.now(UTC).isoformat(),
                  wall_seconds=round(time.monotonic() - started, 3))
    exit_code = {"completed": 0, "failed": 1, "interrupted": 130}[outcome["status"]]
    if exit_code:
        reached = outcome["simulated_seconds_reached"]
        what = "was interrupted" if exit_code == 130 else f"failed: {outcome['error']}"
        kept = (f" Everything recorded until then is in {shown(run.hdf5_file)}."
                if run.hdf5_file.exists() else "")
        print(f"error: run {run.run_id} of scenario {scenario} {what} (simulated time "
              f"reached: {simulators.clock(reached)}, {reached} s).{kept}",
              file=sys.stderr)
    manifest.write(run.directory / "manifest.json", record)  # at once, should we be killed
    if run.hdf5_file.exists():
        record["hdf5"] = {"file": run.hdf5_file.name}
        try:
            record["hdf5"]["datasets"] = manifest.dataset_checksums(run.hdf5_file)
        except OSError as error:  # still locked or damaged: say so, keep the rest
            record["hdf5"]["error"] = str(error)
            print(f"error: cannot read {shown(run.hdf5_file)}: {error}", file=sys.stderr)
            exit_code = exit_code or 1
    manifest.write(run.directory / "manifest.json", record)
    if exit_code == 0:
        print(f"Run {run.run_id} completed in {record['wall_seconds']:.0f} s: "
              f"{shown(run.hdf5_file)} and {shown(run.directory / 'manifest.json')}", flush=True)
    return exit_code


def describe_run(run: Run, scenario_file: str, sim_config: dict, until: int,
                 rt_factor: float) -> dict:
    """The manifest's account of what is about to run (``run.params`` as the
    scenario completes them)."""
    return {
        "run_id": run.run_id,
        "mode": "containers" if run.remote else "local",
        "scenario": {
            "name": Path(scenario_file).stem,
            "file": shown(Path(scenario_file).resolve()),
            "sha256": manifest.sha256_file(scenario_file),
            "params": run.params,
            "until": until,
            "rt_factor": rt_factor,
        },
        "simulators": describe_simulators(sim_config),
        "lock_sha256": manifest.sha256_file(manifest.LOCK_FILE),
        "packages": manifest.locked_packages(),
        "data": {p.name: manifest.sha256_file(p) for p in sorted((REPO / "data").glob("*"))
                 if p.is_file() and p.name != "README.md"},
        "host": manifest.host_info(),
        "numeric": numeric.report(),
        "started_utc": datetime.now(UTC).isoformat(),
    }


def run_world(sim_config: dict, create_scenario, run: Run, until: int, rt_factor: float) -> dict:
    """Build and run the world; return its status (and error) for the manifest,
    which the page learns too."""
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, `make down`: close cleanly
        signal.signal(signum, stop_on_signal)
    world = outcome = None
    try:
        with mosaik.World(sim_config, skip_greetings=True) as world:
            try:
                run.build(world, create_scenario)
                with progress_lines(world, until), said_once_behind_real_time(rt_factor):
                    world.run(until=until, rt_factor=rt_factor or None,
                              print_progress=sys.stdout.isatty())
                if STOP_REQUESTED.is_set():  # a Ctrl-C that mosaik swallowed
                    raise KeyboardInterrupt
                if not reached_the_end(world, until):
                    raise RunError(f"the run stopped before its end ({until} s) without an "
                                   "error from any simulator; see the log above")
                outcome = {"status": "completed", "simulated_seconds_reached": until}
            except (Exception, KeyboardInterrupt) as error:
                outcome = failed(world, error)
            show_outcome(run, outcome)
        return outcome
    except (Exception, KeyboardInterrupt) as error:  # starting or shutting down the world
        return outcome if outcome and outcome["status"] != "completed" else failed(world, error)


def stopped_meanwhile(grace: float = 3.0) -> bool:
    """Whether a stop (Ctrl-C, `make down`) arrives within *grace* seconds:
    `make down` stops every container at once, and a simulator's closed
    connection may reach the master a moment before its own SIGTERM."""
    try:
        return STOP_REQUESTED.wait(grace)
    except KeyboardInterrupt:  # stop_on_signal raises it in this very thread
        return True


def failed(world, error: BaseException) -> dict:
    """The outcome of a run that ended in *error*: every failure in one paragraph."""
    if world:  # mosaik leaves its simulator runners pending: not news after this
        world.loop.set_exception_handler(lambda loop, context: None)
    interrupted = (isinstance(error, KeyboardInterrupt) or STOP_REQUESTED.is_set()
                   or isinstance(error, simulators.SimulatorLost) and stopped_meanwhile())
    outcome = {"status": "interrupted" if interrupted else "failed",
               "error": "interrupted" if interrupted else " ".join(str(error).split()),
               "error_type": type(error).__name__,
               "simulated_seconds_reached": simulated_time_reached(world)}
    if isinstance(error, simulators.SimulatorError | simulators.SimulatorNeverCameUp):
        outcome["failure"] = error.facts
    return outcome


def show_outcome(run: Run, outcome: dict) -> None:
    """Tell the page how the run ended, and add to *outcome* the entity
    types it showed (``page_etypes``, for replays); a visualiser that cannot
    hear it (it may be what failed) changes nothing else."""
    if run.page is None:
        return
    try:
        outcome["page_etypes"] = run.page.set_outcome(
            outcome["status"], outcome.get("error"), outcome["simulated_seconds_reached"])
    except Exception:  # noqa: BLE001 - the outcome is in the manifest and the log anyway
        pass


@contextmanager
def progress_lines(world, until: int):
    """Without a terminal (`make up` under CI, a log file) mosaik draws no
    progress bar: print a line every PROGRESS_EVERY seconds instead, from the
    world's loop while it runs."""
    if sys.stdout.isatty():
        yield
        return
    started = time.monotonic()

    def report():
        reached = simulated_time_reached(world)
        speed = reached / 60 / (time.monotonic() - started)
        print(f"progress: simulated {simulators.clock(reached)}, {100 * reached / until:.0f} % "
              f"of the run, {speed:.3g} simulated min per second", flush=True)
        timer[0] = world.loop.call_later(PROGRESS_EVERY, report)

    timer = [world.loop.call_later(PROGRESS_EVERY, report)]
    try:
        yield
    finally:
        timer[0].cancel()


@contextmanager
def said_once_behind_real_time(rt_factor: float):
    """mosaik warns at every step that falls behind the real-time factor:
    say it once, with the numbers, and sum it up at the end."""
    behind = []  # seconds behind, one per warning
    show = warnings.showwarning  # mosaik's, which logs through loguru

    def show_once(message, category, *args, **kwargs):
        match = TOO_SLOW.match(str(message))
        if not match:
            return show(message, category, *args, **kwargs)
        behind.append(float(match["behind"]))
        if len(behind) == 1:
            print(f"warning: the simulators cannot keep up with the real-time factor "
                  f"{rt_factor} ({1 / rt_factor / 60:.3g} simulated min per second): "
                  f"{behind[0]:.2f} s behind; the run goes on as fast as it can (said once)",
                  file=sys.stderr, flush=True)

    warnings.showwarning = show_once
    try:
        yield
    finally:
        warnings.showwarning = show
        if len(behind) > 1:
            print(f"warning: the run fell behind the real-time factor {rt_factor} in {len(behind)} "
                  f"simulator steps, by up to {max(behind):.2f} s", file=sys.stderr, flush=True)


def shown(path: Path) -> str:
    """*path* as the user knows it: relative to the repository (containers see it at /lab)."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
