"""The smart-grid demo: mosaik's classic demo, rebuilt on the lab's own data.

A low-voltage grid (power-grid-model behind mosaik-pypower's interface) feeds houses
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

from mosaik.util import connect_many_to_one

from smartgrid_lab import datagen, inputs, runs
from smartgrid_lab.lab_grid import DATA, STEP, LabGrid

SIM_CONFIG = {
    "Grid": {"python": "smartgrid_lab.pgm_grid:PgmGrid"},
    "Households": {"python": "mosaik_components.household.mosaik:Simulator"},
    "PV": {"python": "mosaik_csv:CSV"},
    "Recorder": {"python": "smartgrid_lab.recorder:Recorder"},
    "Web": {"python": "smartgrid_lab.web:Visualiser"},
}

START = datagen.START
END = 24 * 60 * 60  # one day, in seconds
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

    # Instantiate models: the grid with its households connected, and the PV systems
    grid = LabGrid(world, grid_sim, household_sim)
    pvs = pv_sim.PV.create(PV_COUNT)

    # Connect each PV system to a random node of the feeders
    rng = random.Random(SEED)
    feeder_nodes = grid.feeder_nodes()
    for pv in pvs:
        world.connect(pv, grid.buses[rng.choice(feeder_nodes)], "P")

    # Record everything
    db = recorder_sim.Database(filename=str(run.hdf5_file), buf_size=60)
    grid.record(world, db)
    connect_many_to_one(world, pvs, db, "P")

    # Web visualisation
    web_sim = run.start_page(world, start_date=START, step_size=STEP)
    grid.show(world, web_sim, pvs, "PV")


if __name__ == "__main__":
    sys.exit(runs.main(__file__, SIM_CONFIG, create_scenario, until=END,
                       params={"start": START, "end": END, "step": STEP,
                               "pv_count": PV_COUNT, "seed": SEED}))
