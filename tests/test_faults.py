"""A run that fails half-way: a clear error, and nothing recorded is lost."""

import json

import h5py
import numpy as np

from conftest import DEMO, REPO, free_port, run_scenario
from faulty_sims import FAIL_AT

STEP = 60


def run_with(pv_class: str, results, *args):
    return run_scenario(DEMO, "--results", str(results), "--run-id", "faulty",
                        "--serve", f"127.0.0.1:{free_port()}",
                        "--swap", f"PV=faulty_sims:{pv_class}", *args,
                        pythonpath=[REPO / "src", REPO / "tests"])


def assert_recorded_until_the_fault(run_dir):
    """The HDF5 file is closed cleanly and holds every step before the fault."""
    with h5py.File(run_dir / "demo.hdf5") as db:
        recorded = db.attrs["steps_recorded"]
        assert FAIL_AT // STEP - 2 <= recorded <= FAIL_AT // STEP + 1
        for entity, group in db["Series"].items():
            if "Vm" in group:
                assert np.all(group["Vm"][:recorded] > 0), entity
    record = json.loads((run_dir / "manifest.json").read_text())
    assert record["status"] == "failed"
    assert record["hdf5"]["datasets"]


def test_a_crashing_simulator_stops_the_run_with_a_clear_error(tmp_path):
    done = run_with("CrashingPV", tmp_path)
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("error: run faulty of scenario demo failed:")
    assert "PV inverter firmware crashed" in message
    assert "simulated time reached: 02:5" in message
    assert_recorded_until_the_fault(tmp_path / "faulty")
