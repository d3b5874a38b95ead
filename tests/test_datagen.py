"""Tests of the lab's generated input data (smartgrid_lab.datagen, data/).

They read the files with the same code the simulators use (mosaik-pypower,
mosaik-householdsim, mosaik-csv) and run real power flows, because "the file
parses" is not enough: the demo day must also be electrically sane.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import mosaik
import mosaik_api_v3
import pytest
from mosaik.starters import PythonStarter
from mosaik_components.household.model import HouseModel
from mosaik_components.mosaik_pypower import model as pp_model
from mosaik_csv import CSV
from pypower import idx_bus

from smartgrid_lab import datagen

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
V_MIN, V_MAX = 0.95, 1.05  # p.u., the band the demo day must stay in
# PV placement exactly as in scenarios/demo.py: 20 systems, random.Random(23),
# rng.choice over the sorted node_* bus ids (with replacement).
PV_COUNT, PV_PLACEMENT_SEED = 20, 23


def pv_placement():
    rng = random.Random(PV_PLACEMENT_SEED)
    nodes = sorted(n for n in datagen.lv_nodes() if n.startswith("node_"))
    return [rng.choice(nodes) for _ in range(PV_COUNT)]


def house_model():
    with open(DATA / datagen.HOUSEHOLDS_FILE) as f:
        return HouseModel(iter(f.readlines()), datagen.GRID_NAME)


def pv_series():
    """PV power per minute [W] as mosaik-csv reads it."""
    sim = CSV()
    sim.init("PV-0", 1.0, sim_start=datagen.START, datafile=str(DATA / datagen.PV_FILE))
    assert sim.model_name == "PV" and sim.attrs == ["P"]
    return sim.data["P"]


# --- Determinism and CLI --------------------------------------------------------


def test_regeneration_is_byte_identical(tmp_path):
    paths = datagen.write_all(tmp_path)
    assert sorted(p.name for p in paths) == sorted(datagen.FILES)
    for name in datagen.FILES:
        fresh, committed = (tmp_path / name).read_bytes(), (DATA / name).read_bytes()
        assert fresh == committed, f"{name} differs from a fresh run"
        assert b"\r" not in fresh
        assert len(fresh) < 2_000_000


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "smartgrid_lab.datagen", *args],
                          capture_output=True, text=True, env=env, cwd=REPO)


def test_check_passes_on_committed_data():
    result = run_cli("--check")
    assert result.returncode == 0, result.stderr


def test_cli_writes_and_check_names_the_stale_file(tmp_path):
    assert run_cli("--out", str(tmp_path)).returncode == 0
    assert run_cli("--check", "--out", str(tmp_path)).returncode == 0

    pv = tmp_path / datagen.PV_FILE
    pv.write_bytes(pv.read_bytes().replace(b",0.0\n", b",0.1\n", 1))
    (tmp_path / datagen.GRID_FILE).unlink()
    result = run_cli("--check", "--out", str(tmp_path))
    assert result.returncode == 1
    assert "pv.csv" in result.stderr and "grid.json" in result.stderr
    assert "households.data" not in result.stderr


# --- grid.json ----------------------------------------------------------------------


def test_grid_loads_in_mosaik_pypower():
    ppc, entities = pp_model.load_case(str(DATA / datagen.GRID_FILE), 0, {})
    by_type = {}
    for eid, attrs in entities.items():
        by_type.setdefault(attrs["etype"], []).append(eid.split("-", 1)[1])

    assert by_type["RefBus"] == ["tr_pri"]
    nodes = [b for b in by_type["PQBus"] if b.startswith("node_")]
    assert len(nodes) == 37
    assert set(by_type["PQBus"]) == {"tr_sec", *nodes}
    assert {n[5] for n in nodes} == set("abcd")  # four feeders
    assert len(by_type["Branch"]) == 37  # radial: one branch per LV node
    assert by_type["Transformer"] == ["transformer"]

    trafo = entities["0-transformer"]["static"]
    assert trafo["S_r"] == 250e3 and trafo["U_p"] == 20e3 and trafo["U_s"] == 400
    assert entities["0-node_a1"]["static"]["Vl"] == 400
    assert ppc["baseMVA"] == 1 and len(ppc["bus"]) == 39


def test_every_house_node_is_a_grid_bus():
    buses = {row[0] for row in json.loads((DATA / datagen.GRID_FILE).read_text())["bus"]}
    nodes = house_model().node_ids
    assert 35 <= len(nodes) <= 40
    assert set(nodes) <= buses
    assert set(pv_placement()) <= buses


# --- households.data -------------------------------------------------------------------


def test_households_parse_and_are_plausible():
    model = house_model()
    n = len(model.node_ids)
    assert model.resolution == 1 and model.unit == "W"
    assert [h["node_id"] for h in model.houses] == model.node_ids
    assert all(1 <= h["num_res"] <= 5 and h["num_hh"] == 1 for h in model.houses)

    energy_wh = [0.0] * n
    for minute in range(datagen.END_SECONDS // 60):
        values = model.get(minute)
        assert len(values) == n and min(values) >= 0
        energy_wh = [e + v / 60 for e, v in zip(energy_wh, values)]
    assert len(model.get(1440)) == n  # the extra row after the last minute
    with pytest.raises(IndexError):
        model.get(1441)

    assert all(2.0 < e / 1000 < 30.0 for e in energy_wh), energy_wh
    distinct = {round(e) for e in energy_wh}
    assert len(distinct) == model.num_profiles == 10  # houses differ


def test_household_day_energy_matches_h0_scaling():
    infos, profiles = datagen.household_profiles()
    for info, profile in zip(infos, profiles):
        assert 2500 * 0.9 <= info["annual_kwh"] <= 5000 * 1.1
        day_kwh = sum(profile[:-1]) / 60 / 1000
        assert day_kwh == pytest.approx(info["day_kwh"], rel=1e-9)
        # A summer day uses less than the annual average day (H0 + F_t).
        assert 0.8 < day_kwh / (info["annual_kwh"] / 365) < 1.0
        assert max(profile) > 1500  # at least one appliance-like spike


# --- pv.csv ---------------------------------------------------------------------------


def test_pv_profile_shape():
    p = pv_series()
    assert len(p) == datagen.END_SECONDS // 60 + 1
    assert (p <= 0).all()  # feed-in is negative
    assert p["2025-06-21 00:00:00"] == 0 and p["2025-06-21 23:00:00"] == 0
    assert p["2025-06-21 03:00:00"] == 0 and p["2025-06-22 00:00:00"] == 0
    assert p["2025-06-21 13:00:00"] < -5000
    peak_time = p.idxmin()
    assert "2025-06-21 13:00" <= str(peak_time) <= "2025-06-21 14:00"  # CEST
    assert 0.6 * datagen.PV_PEAK_W < -p.min() <= datagen.PV_PEAK_W
    day_kwh = -p.iloc[:-1].sum() / 60 / 1000
    assert 5 * datagen.PV_PEAK_W / 1000 < day_kwh < 8 * datagen.PV_PEAK_W / 1000


# --- Power flow -------------------------------------------------------------------------


def test_power_flow_whole_day_within_voltage_band():
    """All 1,440 minutes through mosaik-pypower's own case functions."""
    ppc, entities = pp_model.load_case(str(DATA / datagen.GRID_FILE), 0, {})
    idx = {eid.split("-", 1)[1]: a["idx"] for eid, a in entities.items()
           if a["etype"] == "PQBus"}
    model, pv, pv_nodes = house_model(), pv_series().tolist(), pv_placement()
    vm_min, vm_max = 2.0, 0.0
    for minute in range(datagen.END_SECONDS // 60):
        load = dict.fromkeys(idx, 0.0)
        for node, p in zip(model.node_ids, model.get(minute)):
            load[node] += p
        for node in pv_nodes:
            load[node] += pv[minute]
        pp_model.reset_inputs(ppc)
        for bus, p in load.items():
            pp_model.set_inputs(ppc, "PQBus", idx[bus], {"P": p}, {})
        result = pp_model.perform_powerflow(ppc)
        assert result["success"], minute
        vm = result["bus"][1:, idx_bus.VM]  # all PQ buses (bus 0 is the REF)
        vm_min, vm_max = min(vm_min, vm.min()), max(vm_max, vm.max())
    print(f"whole day: {vm_min:.4f} <= Vm <= {vm_max:.4f} p.u.")
    assert V_MIN <= vm_min and vm_max <= V_MAX
    assert vm_max > 1.005 and vm_min < 0.999  # PV lifts, load pulls: not a dead grid


class VoltageMonitor(mosaik_api_v3.Simulator):
    """Records Vm/Vl of every bus connected to it, each step."""

    def __init__(self, sink):
        super().__init__({"type": "time-based", "models": {"Monitor": {
            "public": True, "params": [], "attrs": ["Vm", "Vl"], "any_inputs": True}}})
        self.sink = sink

    def init(self, sid, time_resolution=1.0, step_size=60):
        self.step_size = step_size
        return self.meta

    def create(self, num, model):
        return [{"eid": "monitor", "type": model}]

    def step(self, time, inputs, max_advance):
        data = inputs["monitor"]
        for src, vm in data["Vm"].items():
            self.sink.append((time, src, vm / data["Vl"][src]))
        return time + self.step_size

    def get_data(self, outputs):
        return {}


def run_demo_world(start, hours):
    """mosaik's classic demo wiring on our data, from *start* for *hours*."""
    samples = []
    world = mosaik.World({
        "Grid": {"python": "mosaik_components.mosaik_pypower.mosaik:PyPower"},
        "Households": {"python": "mosaik_components.household.mosaik:Simulator"},
        "PV": {"python": "mosaik_csv:CSV"},
        "Monitor": PythonStarter(VoltageMonitor, kwargs={"sink": samples}),
    })
    grid = world.start("Grid", step_size=60).Grid(
        gridfile=str(DATA / datagen.GRID_FILE)).children
    houses = world.start("Households").ResidentialLoads(
        sim_start=start, profile_file=str(DATA / datagen.HOUSEHOLDS_FILE),
        grid_name=datagen.GRID_NAME).children
    pvs = world.start("PV", sim_start=start,
                      datafile=str(DATA / datagen.PV_FILE)).PV.create(PV_COUNT)
    monitor = world.start("Monitor", step_size=60).Monitor()

    buses = {e.eid.split("-", 1)[1]: e for e in grid if e.type == "PQBus"}
    node_ids = world.get_data(houses, "node_id")
    for house in houses:
        world.connect(house, buses[node_ids[house]["node_id"]], ("P_out", "P"))
    for pv, node in zip(pvs, pv_placement()):
        world.connect(pv, buses[node], "P")
    for bus in buses.values():
        world.connect(bus, monitor, "Vm", "Vl")
    world.run(until=hours * 3600, print_progress=False)
    return samples


@pytest.mark.parametrize("start", ["2025-06-21 11:00:00", "2025-06-21 17:00:00"],
                         ids=["midday-pv-peak", "evening-load-peak"])
def test_mosaik_demo_world_within_voltage_band(start):
    samples = run_demo_world(start, hours=3)
    assert len({t for t, _, _ in samples}) == 3 * 60
    assert len({src for _, src, _ in samples}) == 38  # tr_sec + 37 nodes
    vm = [v for _, _, v in samples]
    assert V_MIN <= min(vm) and max(vm) <= V_MAX, (min(vm), max(vm))
    if start.endswith("11:00:00"):
        assert max(vm) > 1.01  # reverse power flow from the PV systems
