"""What a user sees when a run cannot start or fails: one clear paragraph."""

import json

from conftest import DEMO, free_port, run_scenario

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
