"""The smart-grid demo: mosaik's classic demo, rebuilt on the lab's own data.

A low-voltage grid (mosaik-pypower, PYPOWER) feeds residential houses
(mosaik-householdsim); 20 PV systems (mosaik-csv) feed in at random grid
nodes; mosaik-hdf5 records everything and mosaik-web shows the topology live.

One day, midsummer, every simulator steps once a simulated minute: the
profiles have 1-minute resolution, so a 15-minute grid step (as in mosaik's
original demo) would drop 14 of every 15 load and PV values.

    python scenarios/demo.py             # all simulators in this process
    python scenarios/demo.py --remote    # each simulator in its container
"""

import random
import sys
from pathlib import Path

from mosaik.util import connect_many_to_one

from smartgrid_lab import datagen, inputs, runs

SIM_CONFIG = {
    "Grid": {"python": "mosaik_components.mosaik_pypower.mosaik:PyPower"},
    "Households": {"python": "mosaik_components.household.mosaik:Simulator"},
    "PV": {"python": "mosaik_csv:CSV"},
    "Recorder": {"python": "smartgrid_lab.recorder:Recorder"},
    "Web": {"python": "smartgrid_lab.web:Visualiser"},
}

DATA = Path(__file__).resolve().parents[1] / "data"
START = datagen.START
END = 24 * 60 * 60  # one day, in seconds
STEP = 60  # seconds
PV_COUNT = 20
SEED = 23  # which node each PV system is connected to


def create_scenario(world, run):
    # Check the input files: a clear error now beats a traceback deep in a simulator
    inputs.check_inputs(DATA, datagen.GRID_NAME, steps=END // STEP, start=START)

    # Start simulators
    grid_sim = world.start("Grid", step_size=STEP)
    household_sim = world.start("Households")
    pv_sim = world.start("PV", sim_start=START, datafile=str(DATA / "pv.csv"))
    recorder_sim = world.start("Recorder", step_size=STEP, duration=END)

    # Instantiate models
    grid = grid_sim.Grid(gridfile=str(DATA / "grid.json")).children
    houses = household_sim.ResidentialLoads(
        sim_start=START, profile_file=str(DATA / "households.data"),
        grid_name=datagen.GRID_NAME,
    ).children
    pvs = pv_sim.PV.create(PV_COUNT)

    # Connect entities
    buses = {bus.eid.split("-", 1)[1]: bus for bus in grid if bus.type == "PQBus"}
    house_nodes = world.get_data(houses, "node_id")
    for house in houses:
        world.connect(house, buses[house_nodes[house]["node_id"]], ("P_out", "P"))

    rng = random.Random(SEED)
    feeder_nodes = sorted(eid for eid in buses if eid.startswith("node_"))
    for pv in pvs:
        world.connect(pv, buses[rng.choice(feeder_nodes)], "P")

    # Record everything
    nodes = [e for e in grid if e.type in ("RefBus", "PQBus")]
    branches = [e for e in grid if e.type in ("Transformer", "Branch")]
    db = recorder_sim.Database(filename=str(run.hdf5_file), buf_size=60)
    connect_many_to_one(world, houses, db, "P_out")
    connect_many_to_one(world, pvs, db, "P")
    connect_many_to_one(world, nodes, db, "P", "Q", "Vl", "Vm", "Va")
    connect_many_to_one(world, branches, db, "P_from", "Q_from", "P_to", "Q_to")

    # Web visualisation
    web_params = {} if run.remote else {"serve_addr": run.web_serve}
    web_sim = world.start("Web", start_date=START, step_size=STEP, **web_params)
    web_sim.set_config(ignore_types=["Topology", "ResidentialLoads", "Grid", "Database"])
    topology = web_sim.Topology()
    connect_many_to_one(world, nodes, topology, "P", "Vm")
    connect_many_to_one(world, houses, topology, "P_out")
    connect_many_to_one(world, pvs, topology, "P")
    lv_volts = min(bus["Vl"] for bus in world.get_data(nodes, "Vl").values())
    web_sim.set_etypes({
        "RefBus": {"cls": "refbus", "attr": "P", "unit": "P [W]",
                   "default": 0, "min": 0, "max": 100_000},
        "PQBus": {"cls": "pqbus", "attr": "Vm", "unit": "U [V]",
                  "default": lv_volts, "min": 0.97 * lv_volts, "max": 1.03 * lv_volts},
        "House": {"cls": "load", "attr": "P_out", "unit": "P [W]",
                  "default": 0, "min": 0, "max": 3000},
        "PV": {"cls": "gen", "attr": "P", "unit": "P [W]",
               "default": 0, "min": -10_000, "max": 0},
    })


if __name__ == "__main__":
    sys.exit(runs.main(__file__, SIM_CONFIG, create_scenario, until=END,
                       params={"start": START, "end": END, "step": STEP,
                               "pv_count": PV_COUNT, "seed": SEED}))
