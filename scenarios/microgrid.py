"""Exercise `microgrid` (TP5): a feeder that feeds itself, with a community battery.

The lab's grid and households, as in the demo. Feeder a is the micro-grid:
a PV system on each of its 9 houses (smartgrid_lab.inverters, never
limited) and a community battery at its head, node_a1
(smartgrid_lab.battery). The power through the feeder's first cable,
branch_1 from the transformer's busbar to node_a1, is what the micro-grid
exchanges with the rest of the grid: positive = import. The student's
storage controller reads it every minute, with the battery's power and
state of charge, and sends back the battery's set-point: a closed loop.
As in scenarios/voltage.py, the set-point is a *time-shifted* connection,
so the battery applies at minute t what the controller decided from the
measurements of minute t-1 (0 W, idle, at the very first step).

    python scenarios/microgrid.py             # all simulators in this process
    python scenarios/microgrid.py --remote    # each simulator in its container
"""

import sys

from mosaik.util import connect_many_to_one

from smartgrid_lab import datagen, inputs, runs
from smartgrid_lab.lab_grid import DATA, STEP, LabGrid

SIM_CONFIG = {
    "Grid": {"python": "smartgrid_lab.pgm_grid:PgmGrid"},
    "Households": {"python": "mosaik_components.household.mosaik:Simulator"},
    "Inverters": {"python": "smartgrid_lab.inverters:Inverters"},
    "Battery": {"python": "smartgrid_lab.battery:Batteries"},
    "Storage-controller": {"python": "exercises/microgrid/starter/simulator.py:Simulator"},
    "Recorder": {"python": "smartgrid_lab.recorder:Recorder"},
    "Web": {"python": "smartgrid_lab.web:Visualiser"},
}

START = datagen.START
END = 24 * 60 * 60  # one day, in seconds
FEEDER = "node_a"  # the micro-grid: the nodes node_a1 ... node_a9
FEEDER_HEAD, FEEDER_CABLE = "node_a1", "branch_1"  # branch_1: tr_sec -> node_a1
PV_KW = 3  # kWp on each house of the micro-grid
BATTERY = {"capacity_kwh": 20, "p_charge_max_kw": 10, "p_discharge_max_kw": 10,
           "efficiency": 0.9, "soc_min": 0.05, "soc_max": 0.95, "soc_init": 0.2}


def create_scenario(world, run):
    # Check the input files: a clear error now beats a traceback deep in a simulator
    inputs.check_inputs(DATA, datagen.GRID_NAME, steps=END // STEP, start=START)

    # Start simulators
    grid_sim = world.start("Grid", step_size=STEP)
    household_sim = world.start("Households")
    inverter_sim = world.start("Inverters", sim_start=START, datafile=str(DATA / "pv.csv"),
                               step_size=STEP)
    battery_sim = world.start("Battery", step_size=STEP)
    controller_sim = world.start("Storage-controller")
    recorder_sim = world.start("Recorder", step_size=STEP, duration=END)

    # Instantiate models: the grid with its households, a PV system on every
    # house of the micro-grid, its battery and the battery's controller
    grid = LabGrid(world, grid_sim, household_sim)
    houses = [house for house in grid.houses if grid.house_node[house].startswith(FEEDER)]
    inverters = [inverter_sim.Inverter(peak_kw=PV_KW) for _ in houses]
    battery = battery_sim.Battery(**BATTERY)
    controller = controller_sim.Controller()
    cable = grid.cables[FEEDER_CABLE]

    # Connect the PV systems and the battery to their nodes
    for house, inverter in zip(houses, inverters, strict=True):
        world.connect(inverter, grid.buses[grid.house_node[house]], "P")
    world.connect(battery, grid.buses[FEEDER_HEAD], "P")

    # The closed loop: feeder exchange and battery state -> controller -> battery
    world.connect(cable, controller, ("P_from", "P_feeder"))
    world.connect(battery, controller, ("P", "P_battery"), "SoC")
    world.connect(controller, battery, "P_set", time_shifted=True, initial_data={"P_set": 0.0})

    # Record everything
    db = recorder_sim.Database(filename=str(run.hdf5_file), buf_size=60)
    grid.record(world, db)
    connect_many_to_one(world, inverters, db, "P")
    world.connect(battery, db, "P_set", "P", "SoC", "E_kwh")

    # Web visualisation
    web_sim = run.start_page(world, start_date=START, step_size=STEP)
    topology = grid.show(world, web_sim, inverters, "Inverter", hidden=["Controller"])
    world.connect(battery, topology, "P")
    web_sim.set_etypes({"Battery": {"cls": "gen", "attr": "P", "unit": "P [W]", "default": 0,
                                    "min": -10_000, "max": 10_000}})


if __name__ == "__main__":
    sys.exit(runs.main(__file__, SIM_CONFIG, create_scenario, until=END,
                       params={"start": START, "end": END, "step": STEP, "feeder": FEEDER,
                               "pv_kw": PV_KW, "battery": BATTERY}))
