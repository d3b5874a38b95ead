"""Two power-flow engines, one contract: PandapowerGrid is a drop-in for PyPower.

The demo is run once with mosaik-pypower (conftest's ``local_run``) and once
with ``--swap Grid=smartgrid_lab.pandapower_grid:PandapowerGrid``; both runs
must record the same datasets and the same physics.
"""

import random

import h5py
import numpy as np
import pytest
from mosaik_components.mosaik_pypower.mosaik import PyPower

from conftest import DEMO, REPO, STEPS, free_port, run_scenario
from smartgrid_lab import results
from smartgrid_lab.grid_engine import OUTPUTS
from smartgrid_lab.pandapower_grid import PandapowerGrid

GRIDFILE = str(REPO / "data" / "grid.json")
SWAP = "Grid=smartgrid_lab.pandapower_grid:PandapowerGrid"
VM_TOL = 1e-4  # p.u.
VA_TOL = 1e-3  # degrees
# Both solvers stop once every bus's power mismatch is below 1e-8 p.u.: PYPOWER
# on its per-phase 1 MVA base (0.03 W three-phase), pandapower on 1 MVA
# (0.01 W). A flow can differ by the mismatches of all 39 buses behind it,
# at most 39 x 0.04 W = 1.6 W, so 2 W / 2 VAr (8e-6 of the 250 kVA
# transformer's rating) is the engines' numerical noise, not a model difference.
FLOW_TOL = 2.0  # W or VAr
CURRENT_TOL = 0.01  # A (I_real, I_imag: 2 W at 400 V are 3 mA)
INPUT_TOL = 1e-6  # W or VAr: bus P, Q are the inputs echoed (after a MW round trip)


@pytest.fixture(scope="module")
def pandapower_run(tmp_path_factory):
    results_dir = tmp_path_factory.mktemp("results")
    done = run_scenario(DEMO, "--results", str(results_dir), "--run-id", "pandapower",
                        "--serve", f"127.0.0.1:{free_port()}", "--swap", SWAP)
    assert done.returncode == 0, done.stderr
    return results_dir / "pandapower"


def datasets(hdf5_file):
    """``{path: shape}`` of every dataset in an HDF5 file."""
    found = {}
    with h5py.File(hdf5_file) as db:
        db.visititems(lambda name, obj: found.update({name: obj.shape})
                      if isinstance(obj, h5py.Dataset) else None)
    return found


def max_differences(pypower, pandapower):
    """``{(kind, attr): (max abs difference, entity)}`` over the whole day;
    Vm in p.u., Va in degrees, powers in W or VAr."""
    worst = {}
    for entity, attrs in pypower.items():
        if not entity.startswith("Grid-"):
            continue
        kind = ("slack" if "Vl" in attrs and attrs["Vl"][0] == 20_000 else
                "bus" if "Vl" in attrs else
                "transformer" if "transformer" in entity else "branch")
        for attr, values in attrs.items():
            diff = np.max(np.abs(values - pandapower[entity][attr]))
            if attr == "Vm":
                diff /= attrs["Vl"][0]
            if diff >= worst.get((kind, attr), (-1.0,))[0]:
                worst[(kind, attr)] = (float(diff), entity)
    return worst


def test_swapped_run_records_the_same_datasets(local_run, pandapower_run):
    pypower, pandapower = datasets(local_run / "demo.hdf5"), datasets(pandapower_run / "demo.hdf5")
    assert pypower == pandapower
    assert sum(path.startswith("Series/Grid-0.0-") for path in pypower) == 39 * 5 + 38 * 4
    with h5py.File(local_run / "demo.hdf5") as a, h5py.File(pandapower_run / "demo.hdf5") as b:
        for name, relations in a["Relations"].items():  # the topology mosaik-web draws
            assert np.array_equal(relations[()], b["Relations"][name][()]), name


def test_swapped_run_is_physically_plausible(pandapower_run):
    assert results.physics_problems(pandapower_run / "demo.hdf5", STEPS) == []


def test_both_engines_agree_all_day(local_run, pandapower_run):
    pypower = results.read_series(local_run / "demo.hdf5")
    pandapower = results.read_series(pandapower_run / "demo.hdf5")
    for entity in pypower:  # houses and PV are untouched by the swap
        if not entity.startswith("Grid-"):
            for attr in pypower[entity]:
                assert np.array_equal(pypower[entity][attr], pandapower[entity][attr])
    worst = max_differences(pypower, pandapower)
    report = "max |PYPOWER - pandapower| over the day:\n" + "\n".join(
        f"  {kind:11} {attr:6} {diff:.3g} ({entity})"
        for (kind, attr), (diff, entity) in sorted(worst.items()))
    print(report)
    tolerance = {"Vm": VM_TOL, "Va": VA_TOL, "Vl": 0.0}
    for (kind, attr), (diff, _) in worst.items():
        if kind == "bus" and attr in ("P", "Q"):
            assert diff <= INPUT_TOL, report
        else:
            assert diff <= tolerance.get(attr, FLOW_TOL), report
    assert {attr for kind, attr in worst if kind in ("branch", "transformer")} == {
        "P_from", "Q_from", "P_to", "Q_to"}
    assert {attr for kind, attr in worst if kind == "slack"} == {"P", "Q", "Vl", "Vm", "Va"}


# --- The two classes side by side, without a scenario ----------------------------


def started(simulator_class, **params):
    sim = simulator_class()
    sim.init("Grid-0", step_size=60, **params)
    return sim, sim.create(1, "Grid", gridfile=GRIDFILE)


def test_same_meta_entities_types_and_relations():
    pypower, pypower_grid = started(PyPower)
    pandapower, pandapower_grid = started(PandapowerGrid)
    assert pandapower.meta["type"] == pypower.meta["type"]
    assert pandapower.meta["models"] == pypower.meta["models"]
    assert pandapower_grid == pypower_grid
    children = {c["eid"]: c for c in pypower_grid[0]["children"]}
    assert children["0-tr_pri"]["type"] == "RefBus"
    assert children["0-node_a1"]["type"] == "PQBus"
    assert children["0-transformer"] == {"eid": "0-transformer", "type": "Transformer",
                                         "rel": ["0-tr_pri", "0-tr_sec"]}
    assert children["0-branch_1"]["rel"] == ["0-tr_sec", "0-node_a1"]
    static = {c["eid"]: [a for a in pypower.meta["models"][c["type"]]["attrs"]
                         if a not in OUTPUTS[c["type"]]] for c in children.values()}
    assert pandapower.get_data(static) == pypower.get_data(static)


@pytest.mark.parametrize("pos_loads", [True, False])
def test_same_results_for_the_same_inputs(pos_loads):
    rng = random.Random(7)
    pypower, grid = started(PyPower, pos_loads=pos_loads)
    pandapower, _ = started(PandapowerGrid, pos_loads=pos_loads)
    children = grid[0]["children"]
    for tap_turn in (0, 2, -1):
        inputs = {c["eid"]: {"P": {"House-0.a": rng.uniform(0, 4000),
                                   "PV-0.b": rng.uniform(-8000, 0)},
                             "Q": {"House-0.a": rng.uniform(-500, 500)}}
                  for c in children if c["type"] == "PQBus"}
        inputs["0-transformer"] = {"tap_turn": {"Ctrl-0.c": tap_turn}}
        outputs = {c["eid"]: OUTPUTS[c["type"]] + (["Vl"] if "Bus" in c["type"] else [])
                   for c in children}
        assert pypower.step(60, inputs, 60) == pandapower.step(60, inputs, 60) == 120
        expected, got = pypower.get_data(outputs), pandapower.get_data(outputs)
        for eid, attrs in outputs.items():
            for attr in attrs:
                tol = {"Vm": VM_TOL * expected[eid].get("Vl", 0), "Va": VA_TOL,
                       "I_real": CURRENT_TOL, "I_imag": CURRENT_TOL}.get(attr, FLOW_TOL)
                assert got[eid][attr] == pytest.approx(expected[eid][attr], abs=tol), (
                    eid, attr, tap_turn)
        node = inputs["0-node_a2"]
        assert got["0-node_a2"]["P"] == pytest.approx(sum(node["P"].values()))
        assert got["0-node_a2"]["Q"] == pytest.approx(sum(node["Q"].values()))


def test_both_report_nan_when_the_power_flow_fails():
    overload = {"0-node_d10": {"P": {"House-0.a": 5e6}}}  # 5 MW at the end of feeder D
    outputs = {"0-node_d10": ["P", "Vm"], "0-tr_pri": ["P", "Q"], "0-branch_1": ["P_from"]}
    for simulator_class in (PyPower, PandapowerGrid):
        sim, _ = started(simulator_class)
        sim.step(0, overload, 60)
        data = sim.get_data(outputs)
        assert all(np.isnan(data[eid][attr]) for eid, attrs in outputs.items() for attr in attrs)
        sim, _ = started(simulator_class, converge_exception=True)
        with pytest.raises(RuntimeError, match="did not converge"):
            sim.step(0, overload, 60)
