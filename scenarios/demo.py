"""The smart-grid demo: mosaik's classic demo, rebuilt on the lab's own data.

A low-voltage grid (power-grid-model behind mosaik-pypower's interface) feeds houses
(mosaik-householdsim); 20 PV systems (mosaik-csv) feed in at random grid
nodes; mosaik-hdf5 records everything and mosaik-web shows the topology live.

One day, midsummer, every simulator steps once a simulated minute: the
profiles have 1-minute resolution, so a 15-minute grid step (as in mosaik's
original demo) would drop 14 of every 15 load and PV values.

The grid may be another one (``--grid``, GRID=; smartgrid_lab.grids): a
mosaik-pypower file with the lab's houses and PV placed on its load buses,
or a SimBench grid with its own loads, PV and 15-minute profiles (step 900 s).

    python scenarios/demo.py             # all simulators in this process
    python scenarios/demo.py --remote    # each simulator in its container
    python scenarios/demo.py --grid simbench:1-LV-rural1--0-sw
"""

import sys

from smartgrid_lab import datagen, grids, inputs, runs
from smartgrid_lab.lab_grid import STEP, LabGrid

SIM_CONFIG = {
    "Grid": {"python": "smartgrid_lab.pgm_grid:PgmGrid"},
    "Households": {"python": "mosaik_components.household.mosaik:Simulator"},
    "PV": {"python": "mosaik_csv:CSV"},
    "Recorder": {"python": "smartgrid_lab.recorder:Recorder"},
    "Web": {"python": "smartgrid_lab.web:Visualiser"},
}

START = datagen.START
END = 24 * 60 * 60  # one day, in seconds
PV_COUNT = 20  # on the lab's grid; other grids: see smartgrid_lab.grids.placed
SEED = grids.PV_SEED  # which node each PV system is connected to


def create_scenario(world, run):
    # The grid's files, then check them: a clear error now beats a traceback deep in a simulator
    files = grids.prepare(run.grid, run.directory)
    step = files.step
    run.params.update(step=step, pv_count=len(files.pv_buses))
    run.grid_facts = files.facts
    inputs.check_files(files.grid_file, files.households_file, files.pv_file, datagen.GRID_NAME,
                       steps=END // 60, start=START, pv_resolution=step // 60)

    # Start simulators
    grid_sim = world.start("Grid", step_size=step)
    household_sim = world.start("Households")
    pv_sim = world.start("PV", sim_start=START, datafile=str(files.pv_file))
    recorder_sim = world.start("Recorder", step_size=step, duration=END)

    # Instantiate models: the grid with its households connected, and the PV systems
    grid = LabGrid(world, grid_sim, household_sim, files)
    pvs = pv_sim.PV.create(len(files.pv_buses))

    # Connect each PV system to its node (on the lab's grid: a random node of the feeders)
    for pv, bus, attr in zip(pvs, files.pv_buses, files.pv_attrs):
        world.connect(pv, grid.buses[bus], (attr, "P"))

    # Record everything
    db = recorder_sim.Database(filename=str(run.hdf5_file), buf_size=60)
    grid.record(world, db)
    for pv, attr in zip(pvs, files.pv_attrs):
        world.connect(pv, db, (attr, "P"))

    # Web visualisation
    web_sim = run.start_page(world, start_date=START, step_size=step)
    grid.show(world, web_sim, pvs, "PV", device_attrs=files.pv_attrs)


if __name__ == "__main__":
    sys.exit(runs.main(__file__, SIM_CONFIG, create_scenario, until=END,
                       params={"start": START, "end": END, "step": STEP,
                               "pv_count": PV_COUNT, "seed": SEED}, takes_grid=True))
