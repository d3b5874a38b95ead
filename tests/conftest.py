"""Shared fixtures: a free port, and one local run of the demo per session."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smartgrid_lab import datagen
from smartgrid_lab.listening import free_port  # noqa: F401 - shared with the tests

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "scenarios" / "demo.py"
STEPS = 24 * 60  # the demo records one value a minute for a day


def run_scenario(scenario: Path, *args: str, timeout: float = 600,
                 pythonpath=(REPO / "src",)) -> subprocess.CompletedProcess:
    """Run a scenario file the way `make run-local` does."""
    return subprocess.run(
        [sys.executable, str(scenario), *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
        env={"PYTHONPATH": ":".join(map(str, pythonpath)), "PATH": "/usr/bin:/bin"},
    )


def make_in(directory: Path, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    """`make ARGS` in *directory*, as a user types it (no terminal, no input)."""
    return subprocess.run(["make", "--no-print-directory", *args], cwd=directory, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def student_simulator(folder: Path, exercise: str = "model", source: str = "starter") -> Path:
    """A simulator folder as `make new-sim` makes it: the template's Dockerfile
    and README, the exercise's starter (or solution) simulator.py."""
    shutil.copytree(REPO / "templates" / "simulator", folder)
    shutil.copy(REPO / "exercises" / exercise / source / "simulator.py", folder)
    return folder


def expected_entities() -> set[str]:
    """What the demo must record, derived from the data files alone."""
    grid = json.loads((REPO / "data" / "grid.json").read_text())
    houses_file = (REPO / "data" / "households.data").read_text().split("# id_list")[1]
    houses = json.loads(houses_file.split("# attrs")[0])[datagen.GRID_NAME]
    return (
        {f"Grid-0.0-{bus[0]}" for bus in grid["bus"]}
        | {f"Grid-0.0-{branch[0]}" for branch in grid["trafo"] + grid["branch"]}
        | {f"Households-0.House_{i}" for i in range(len(houses))}
        | {f"PV-0.PV_{i}" for i in range(20)}
    )


@pytest.fixture(scope="session")
def local_run(tmp_path_factory) -> Path:
    """The directory of one complete local run of the demo."""
    results = tmp_path_factory.mktemp("results")
    done = run_scenario(DEMO, "--results", str(results), "--run-id", "local",
                        "--serve", f"127.0.0.1:{free_port()}")
    assert done.returncode == 0, done.stderr
    return results / "local"


def pytest_collection_modifyitems(items):
    """The offline-bundle test last: it removes every lab image and loads
    them back from the bundle, without Docker's build cache, so any later
    `make images` would build the base image again from scratch."""
    items.sort(key=lambda item: item.path.name == "test_bundle.py")
