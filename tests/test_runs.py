"""What a user sees when a run cannot start or fails: one clear paragraph."""

import json
import shutil

from conftest import DEMO, REPO, free_port, run_scenario

UNKNOWN_SIMULATOR = '''
import sys
from smartgrid_lab import runs

def create_scenario(world, run):
    world.start("Wind")

sys.exit(runs.main(__file__, {"PV": {"python": "mosaik_csv:CSV"}}, create_scenario,
                   until=60, params={}))
'''


def test_invalid_run_id_is_refused(tmp_path):
    done = run_scenario(DEMO, "--results", str(tmp_path), "--run-id", "../escape")
    assert done.returncode == 2
    assert "invalid run id '../escape'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not any(tmp_path.iterdir())


def test_an_existing_run_is_never_overwritten(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "demo.hdf5").write_text("earlier results")
    done = run_scenario(DEMO, "--results", str(tmp_path), "--run-id", "taken")
    assert done.returncode == 2
    assert "run 'taken' already exists" in done.stderr
    assert (tmp_path / "taken" / "demo.hdf5").read_text() == "earlier results"


def test_unknown_simulator_fails_clearly_and_records_the_failure(tmp_path):
    scenario = tmp_path / "broken.py"
    scenario.write_text(UNKNOWN_SIMULATOR)
    done = run_scenario(scenario, "--results", str(tmp_path), "--run-id", "broken",
                        "--serve", f"127.0.0.1:{free_port()}")
    assert done.returncode == 1
    assert "error: run broken of scenario broken failed: no starter 'Wind'" in done.stderr
    assert "Traceback" not in done.stderr
    record = json.loads((tmp_path / "broken" / "manifest.json").read_text())
    assert record["status"] == "failed"
    assert "Wind" in record["error"]


def test_a_malformed_data_file_stops_the_run_before_it_starts(tmp_path):
    """The demo checks its inputs first: the error names file, line and problem."""
    data = tmp_path / "repo"
    shutil.copytree(REPO, data, ignore=shutil.ignore_patterns(".venv", "results", "build", ".git"))
    pv = data / "data" / "pv.csv"
    lines = pv.read_text().splitlines()
    lines[9] = lines[9].split(",")[0] + ",abc"
    pv.write_text("\n".join(lines) + "\n")
    done = run_scenario(data / "scenarios" / "demo.py", "--results", str(tmp_path / "results"),
                        "--run-id", "bad-input", "--serve", f"127.0.0.1:{free_port()}",
                        pythonpath=[data / "src"])
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert "failed:" in message and "pv.csv, line 10: P is 'abc', not a number" in message
    assert "Traceback" not in done.stderr
    assert json.loads((tmp_path / "results" / "bad-input" / "manifest.json").read_text())[
        "status"] == "failed"


UNKNOWN_ATTRIBUTE = '''
import sys
from pathlib import Path
from smartgrid_lab import runs

DATA = Path("{data}")

def create_scenario(world, run):
    pv_sim = world.start("PV", sim_start="2025-06-21 00:00:00", datafile=str(DATA / "pv.csv"))
    grid = world.start("Grid", step_size=60).Grid(gridfile=str(DATA / "grid.json")).children
    bus = next(e for e in grid if e.type == "PQBus")
    world.connect(pv_sim.PV.create(1)[0], bus, ("Power", "P"))

sys.exit(runs.main(__file__, {{"PV": {{"python": "mosaik_csv:CSV"}},
                              "Grid": {{"python": "mosaik_components.mosaik_pypower.mosaik:PyPower"}}}},
                   create_scenario, until=60, params={{}}))
'''


def test_unknown_attribute_fails_clearly(tmp_path):
    scenario = tmp_path / "typo.py"
    scenario.write_text(UNKNOWN_ATTRIBUTE.format(data=REPO / "data"))
    done = run_scenario(scenario, "--results", str(tmp_path), "--run-id", "typo")
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("error: run typo of scenario typo failed:")
    assert "Power" in message
    assert "Traceback" not in done.stderr
