"""The demo scenario, every simulator in-process: complete, plausible, recorded."""

import json

import h5py
import numpy as np

from conftest import DEMO, REPO, STEPS, expected_entities
from smartgrid_lab import datagen, manifest, results


def test_every_entity_is_recorded_at_every_step(local_run):
    with h5py.File(local_run / "demo.hdf5") as db:
        assert set(db["Series"]) == expected_entities()
        for entity, group in db["Series"].items():
            for attr, dataset in group.items():
                assert dataset.shape == (STEPS,), f"{entity}/{attr}"


def test_the_run_is_physically_plausible(local_run):
    assert results.physics_problems(local_run / "demo.hdf5", STEPS) == []


def test_slack_bus_supplies_loads_minus_pv_plus_small_losses(local_run):
    balance = results.power_balance(results.read_series(local_run / "demo.hdf5"))
    assert balance["feed_in"].min() < -50_000  # PV really feeds in at noon ...
    assert balance["slack"].min() < 0  # ... so much that power flows back up
    assert np.all(balance["losses"] >= -1e-3)
    assert np.all(balance["losses"] <= 0.05 * np.abs(balance["slack"]) + 100)
    noon = 12 * 60
    np.testing.assert_allclose(
        balance["slack"][noon], balance["loads"][noon] + balance["feed_in"][noon],
        rtol=0.05)


def test_manifest_describes_the_run(local_run):
    record = json.loads((local_run / "manifest.json").read_text())
    assert record["status"] == "completed"
    assert record["mode"] == "local"
    assert record["scenario"]["file"] == "scenarios/demo.py"
    assert record["scenario"]["sha256"] == manifest.sha256_file(DEMO)
    assert record["scenario"]["params"]["seed"] == 23
    assert record["lock_sha256"] == manifest.sha256_file(REPO / "requirements.lock")
    assert record["packages"]["mosaik"] == "3.7.1"
    assert set(record["data"]) == set(datagen.FILES)
    assert record["hdf5"]["datasets"] == manifest.dataset_checksums(local_run / "demo.hdf5")
    assert record["simulators"]["Grid"] == {
        "python": "smartgrid_lab.pgm_grid:PgmGrid"}


def test_a_second_local_run_is_bit_identical(local_run, tmp_path):
    from conftest import free_port, run_scenario

    done = run_scenario(DEMO, "--results", str(tmp_path), "--run-id", "again",
                        "--serve", f"127.0.0.1:{free_port()}")
    assert done.returncode == 0, done.stderr
    first = json.loads((local_run / "manifest.json").read_text())["hdf5"]
    second = json.loads((tmp_path / "again" / "manifest.json").read_text())["hdf5"]
    assert first == second
