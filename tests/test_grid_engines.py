"""Three power-flow engines, one contract: PandapowerGrid and PgmGrid are drop-ins for PyPower.

The demo runs with PgmGrid, the lab's default engine (conftest's ``local_run``),
once more with mosaik-pypower swapped in (``--swap Grid=...:PyPower``), the
reference, and once with pandapower; every run must record the same datasets
and the same physics, and agree with PYPOWER's. Side by side, without a
scenario, each engine must give PYPOWER's results for the same inputs on the
lab's grid and on a second grid (a meshed 110/20 kV one).
"""

import json
import random

import h5py
import numpy as np
import pytest
from mosaik_components.mosaik_pypower.mosaik import PyPower

from conftest import DEMO, REPO, STEPS, free_port, run_scenario
from smartgrid_lab import results
from smartgrid_lab.grid_engine import OUTPUTS
from smartgrid_lab.pandapower_grid import PandapowerGrid
from smartgrid_lab.pgm_grid import PgmGrid

ENGINES = {"pandapower": PandapowerGrid, "pgm": PgmGrid}
DEFAULT = PgmGrid  # the engine the scenarios start
GRIDFILE = str(REPO / "data" / "grid.json")
VM_TOL = 1e-6  # p.u.
VA_TOL = 1e-4  # degrees
# Each solver stops once every bus's power mismatch is below 1e-8 p.u. (or,
# power-grid-model, its voltage change below 1e-10 p.u.): PYPOWER on its
# per-phase 1 MVA base (0.03 W three-phase), pandapower on 1 MVA (0.01 W).
# A flow can differ by the mismatches of all 39 buses behind it, at most
# 39 x 0.04 W = 1.6 W, so 2 W / 2 VAr (8e-6 of the 250 kVA transformer's
# rating) is the engines' numerical noise, not a model difference.
FLOW_TOL = 2.0  # W or VAr
CURRENT_TOL = 0.01  # A (I_real, I_imag: 2 W at 400 V are 3 mA)
INPUT_TOL = 1e-6  # W or VAr: bus P, Q are the inputs echoed (after a MW round trip)


def swap(simulator_class) -> str:
    return f"Grid={simulator_class.__module__}:{simulator_class.__name__}"


def demo_with(simulator_class, results_dir, run_id):
    done = run_scenario(DEMO, "--results", str(results_dir), "--run-id", run_id,
                        "--serve", f"127.0.0.1:{free_port()}", "--swap", swap(simulator_class))
    assert done.returncode == 0, done.stderr
    return results_dir / run_id


@pytest.fixture(scope="module")
def pypower_run(tmp_path_factory):
    """The directory of the demo's run with mosaik-pypower swapped in: the reference."""
    return demo_with(PyPower, tmp_path_factory.mktemp("results"), "pypower")


@pytest.fixture(scope="module", params=sorted(ENGINES))
def engine_run(request, local_run, tmp_path_factory):
    """The directory of the demo's run with the engine: the default's is ``local_run``."""
    if ENGINES[request.param] is DEFAULT:
        return local_run
    return demo_with(ENGINES[request.param], tmp_path_factory.mktemp("results"), request.param)


def datasets(hdf5_file):
    """``{path: shape}`` of every dataset in an HDF5 file."""
    found = {}
    with h5py.File(hdf5_file) as db:
        db.visititems(lambda name, obj: found.update({name: obj.shape})
                      if isinstance(obj, h5py.Dataset) else None)
    return found


def max_differences(pypower, engine):
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
            diff = np.max(np.abs(values - engine[entity][attr]))
            if attr == "Vm":
                diff /= attrs["Vl"][0]
            if diff >= worst.get((kind, attr), (-1.0,))[0]:
                worst[(kind, attr)] = (float(diff), entity)
    return worst


def test_every_engine_records_the_same_datasets(pypower_run, engine_run):
    pypower, engine = datasets(pypower_run / "demo.hdf5"), datasets(engine_run / "demo.hdf5")
    assert pypower == engine
    assert sum(path.startswith("Series/Grid-0.0-") for path in pypower) == 39 * 5 + 38 * 4
    with h5py.File(pypower_run / "demo.hdf5") as a, h5py.File(engine_run / "demo.hdf5") as b:
        for name, relations in a["Relations"].items():  # the topology mosaik-web draws
            assert np.array_equal(relations[()], b["Relations"][name][()]), name
    for run, simulator_class in ((pypower_run, PyPower), (engine_run, None)):
        manifest = json.loads((run / "manifest.json").read_text())
        named = swap(simulator_class or ENGINES.get(run.name, DEFAULT)).split("=")[1]
        assert manifest["simulators"]["Grid"] == {"python": named}


def test_every_engine_run_is_physically_plausible(engine_run):
    assert results.physics_problems(engine_run / "demo.hdf5", STEPS) == []


def test_engines_agree_all_day(pypower_run, engine_run):
    pypower = results.read_series(pypower_run / "demo.hdf5")
    engine = results.read_series(engine_run / "demo.hdf5")
    for entity in pypower:  # houses and PV are untouched by the swap
        if not entity.startswith("Grid-"):
            for attr in pypower[entity]:
                assert np.array_equal(pypower[entity][attr], engine[entity][attr])
    worst = max_differences(pypower, engine)
    report = f"max |PYPOWER - {engine_run.name}| over the day:\n" + "\n".join(
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


# --- Each engine beside PyPower, without a scenario -------------------------------

# A second grid: 110/20 kV, a meshed 20 kV ring of cables (with their
# capacitance), an overhead line, an open tie line and the transformer on tap
# 1; every type from mosaik-pypower's own catalogue.
MV_GRID = {
    "bus": [["hv", "REF", 110.0], *[[f"mv_{i}", "PQ", 20.0] for i in range(6)]],
    "trafo": [["trafo", "hv", "mv_0", "TRAFO_40", 1, 1]],
    "branch": [["ring_1", "mv_0", "mv_1", "NA2XS2Y_185", 2.5, 1],
               ["ring_2", "mv_1", "mv_2", "NA2XS2Y_185", 3.0, 1],
               ["ring_3", "mv_2", "mv_3", "NA2XS2Y_120", 2.0, 1],
               ["ring_4", "mv_3", "mv_0", "NA2XS2Y_185", 4.0, 1],
               ["tie", "mv_1", "mv_3", "NA2XS2Y_120", 3.5, 0],
               ["overhead", "mv_2", "mv_4", "AL/ST_70/12/20", 6.0, 1],
               ["spur", "mv_4", "mv_5", "NA2XS2Y_120", 1.5, 1]],
}
LOAD_SCALE = {"lab": 1, "mv": 500}  # houses of up to 4 kW; MV nodes of up to 2 MW


@pytest.fixture(scope="module")
def grid_files(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("grids")
    (folder / "mv.json").write_text(json.dumps(MV_GRID))
    closed = dict(MV_GRID, branch=[row[:5] + [1] for row in MV_GRID["branch"]])
    (folder / "mv-closed.json").write_text(json.dumps(closed))
    return {"lab": GRIDFILE, "mv": str(folder / "mv.json"),
            "mv-closed": str(folder / "mv-closed.json")}


def started(simulator_class, gridfile=GRIDFILE, **params):
    sim = simulator_class()
    sim.init("Grid-0", step_size=60, **params)
    return sim, sim.create(1, "Grid", gridfile=str(gridfile))


def random_loads(rng, children, scale=1):
    return {c["eid"]: {"P": {"House-0.a": rng.uniform(0, 4000) * scale,
                             "PV-0.b": rng.uniform(-8000, 0) * scale},
                       "Q": {"House-0.a": rng.uniform(-500, 500) * scale}}
            for c in children if c["type"] == "PQBus"}


def assert_same_results(expected_sim, sim, children, why=()):
    outputs = {c["eid"]: OUTPUTS[c["type"]] + (["Vl"] if "Bus" in c["type"] else [])
               for c in children}
    expected, got = expected_sim.get_data(outputs), sim.get_data(outputs)
    for eid, attrs in outputs.items():
        for attr in attrs:
            tol = {"Vm": VM_TOL * expected[eid].get("Vl", 0), "Va": VA_TOL,
                   "I_real": CURRENT_TOL, "I_imag": CURRENT_TOL}.get(attr, FLOW_TOL)
            assert got[eid][attr] == pytest.approx(expected[eid][attr], abs=tol), (
                eid, attr, *why)


@pytest.mark.parametrize("grid", ["lab", "mv"])
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_same_meta_entities_types_and_relations(engine, grid, grid_files):
    pypower, pypower_grid = started(PyPower, grid_files[grid])
    sim, sim_grid = started(ENGINES[engine], grid_files[grid])
    assert sim.meta["type"] == pypower.meta["type"]
    assert sim.meta["models"] == pypower.meta["models"]
    assert sim_grid == pypower_grid
    children = {c["eid"]: c for c in pypower_grid[0]["children"]}
    static = {eid: [a for a in pypower.meta["models"][c["type"]]["attrs"]
                    if a not in OUTPUTS[c["type"]]] for eid, c in children.items()}
    assert sim.get_data(static) == pypower.get_data(static)
    if grid == "lab":
        assert children["0-tr_pri"]["type"] == "RefBus"
        assert children["0-node_a1"]["type"] == "PQBus"
        assert children["0-transformer"] == {"eid": "0-transformer", "type": "Transformer",
                                             "rel": ["0-tr_pri", "0-tr_sec"]}
        assert children["0-branch_1"]["rel"] == ["0-tr_sec", "0-node_a1"]


@pytest.mark.parametrize("grid, pos_loads", [("lab", True), ("lab", False), ("mv", True)])
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_same_results_for_the_same_inputs(engine, grid, pos_loads, grid_files):
    rng = random.Random(7)
    pypower, created = started(PyPower, grid_files[grid], pos_loads=pos_loads)
    sim, _ = started(ENGINES[engine], grid_files[grid], pos_loads=pos_loads)
    children = created[0]["children"]
    trafo = next(c["eid"] for c in children if c["type"] == "Transformer")
    taps = sorted(pypower.get_data({trafo: ["taps"]})[trafo]["taps"])
    for tap_turn in (0, taps[-1], taps[0]):
        inputs = random_loads(rng, children, LOAD_SCALE[grid])
        inputs[trafo] = {"tap_turn": {"Ctrl-0.c": tap_turn}}
        assert pypower.step(60, inputs, 60) == sim.step(60, inputs, 60) == 120
        assert_same_results(pypower, sim, children, why=(tap_turn,))
        bus = next(eid for eid in inputs if eid != trafo)
        got = sim.get_data({bus: ["P", "Q"], trafo: ["tap_turn"]})
        assert got[bus]["P"] == pytest.approx(sum(inputs[bus]["P"].values()))
        assert got[bus]["Q"] == pytest.approx(sum(inputs[bus]["Q"].values()))
        assert got[trafo]["tap_turn"] == tap_turn


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_switching_a_branch_online_gives_the_grid_with_it_closed(engine, grid_files):
    """mosaik-pypower takes no ``online`` input for branches; the engines do."""
    rng = random.Random(3)
    pypower, created = started(PyPower, grid_files["mv-closed"])
    sim, _ = started(ENGINES[engine], grid_files["mv"])
    children = created[0]["children"]
    inputs = random_loads(rng, children, LOAD_SCALE["mv"])
    pypower.step(0, inputs, 60)
    sim.step(0, inputs | {"0-tie": {"online": {"Ctrl-0.c": 1}}}, 60)
    assert_same_results(pypower, sim, children)
    assert sim.get_data({"0-tie": ["online"]}) == {"0-tie": {"online": True}}
    assert sim.get_data({"0-tie": ["P_from"]})["0-tie"]["P_from"] != 0


def test_all_report_nan_when_the_power_flow_fails():
    overload = {"0-node_d10": {"P": {"House-0.a": 5e6}}}  # 5 MW at the end of feeder D
    outputs = {"0-node_d10": ["P", "Vm"], "0-tr_pri": ["P", "Q"], "0-branch_1": ["P_from"]}
    for simulator_class in (PyPower, *ENGINES.values()):
        sim, _ = started(simulator_class)
        sim.step(0, overload, 60)
        data = sim.get_data(outputs)
        assert all(np.isnan(data[eid][attr]) for eid, attrs in outputs.items() for attr in attrs)
        sim, _ = started(simulator_class, converge_exception=True)
        with pytest.raises(RuntimeError, match="did not converge"):
            sim.step(0, overload, 60)
