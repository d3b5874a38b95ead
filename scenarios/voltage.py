"""Exercise `voltage` (TP3): keep a low-voltage grid with a lot of PV in band.

The lab's grid and households, as in the demo, but with a PV system on
every house; at midday, without control, the feeder ends rise above
1.05 p.u. Each PV system sits behind an inverter that accepts a limit on
its feed-in (smartgrid_lab.inverters). The student's Controller, one entity
per inverter, reads the voltage of the inverter's node every minute and
sends back that limit: a closed loop. mosaik needs to know which way round
the loop is computed: the set-point is a *time-shifted* connection, so the
inverters use at minute t what the controller decided from the voltages of
minute t-1 (100 %, no limit, at the very first step).

    python scenarios/voltage.py             # all simulators in this process
    python scenarios/voltage.py --remote    # each simulator in its container
"""

import sys

from mosaik.util import connect_many_to_one

from smartgrid_lab import datagen, inputs, runs
from smartgrid_lab.lab_grid import DATA, STEP, LabGrid

SIM_CONFIG = {
    "Grid": {"python": "smartgrid_lab.pgm_grid:PgmGrid"},
    "Households": {"python": "mosaik_components.household.mosaik:Simulator"},
    "Inverters": {"python": "smartgrid_lab.inverters:Inverters"},
    "Controller": {"python": "exercises/voltage/starter/simulator.py:Simulator"},
    "Recorder": {"python": "smartgrid_lab.recorder:Recorder"},
    "Web": {"python": "smartgrid_lab.web:Visualiser"},
}

START = datagen.START
END = 24 * 60 * 60  # one day, in seconds
PV_KW_NEAR, PV_KW_FAR = 3, 15  # kWp: houses near the transformer, barns at the feeder ends


def pv_size(node: str) -> float:
    """kWp of the PV system at ``node``, e.g. ``node_b7``: the further down its
    feeder (7th node of about 10), the larger the roof and the system."""
    position = int(node.rsplit("_", 1)[1][1:])
    return PV_KW_NEAR + (PV_KW_FAR - PV_KW_NEAR) * min(position - 1, 9) / 9


def create_scenario(world, run):
    # Check the input files: a clear error now beats a traceback deep in a simulator
    inputs.check_inputs(DATA, datagen.GRID_NAME, steps=END // STEP, start=START)

    # Start simulators
    grid_sim = world.start("Grid", step_size=STEP)
    household_sim = world.start("Households")
    inverter_sim = world.start("Inverters", sim_start=START, datafile=str(DATA / "pv.csv"),
                               step_size=STEP)
    controller_sim = world.start("Controller")
    recorder_sim = world.start("Recorder", step_size=STEP, duration=END)

    # Instantiate models: the grid with its households, a PV inverter on every
    # house and one controller per inverter
    grid = LabGrid(world, grid_sim, household_sim)
    inverters = [inverter_sim.Inverter(peak_kw=pv_size(grid.house_node[house]))
                 for house in grid.houses]
    controllers = controller_sim.Controller.create(len(inverters))

    # The closed loop: node voltage -> controller -> inverter -> node
    for house, inverter, controller in zip(grid.houses, inverters, controllers, strict=True):
        bus = grid.buses[grid.house_node[house]]
        world.connect(inverter, bus, "P")
        world.connect(bus, controller, "Vm", "Vl")
        world.connect(controller, inverter, "P_limit_pct",
                      time_shifted=True, initial_data={"P_limit_pct": 100.0})

    # Record everything
    db = recorder_sim.Database(filename=str(run.hdf5_file), buf_size=60)
    grid.record(world, db)
    connect_many_to_one(world, inverters, db, "P", "P_avail", "P_limit_pct")

    # Web visualisation: the page marks the 0.95-1.05 p.u. band
    web_sim = run.start_page(world, start_date=START, step_size=STEP)
    grid.show(world, web_sim, inverters, "Inverter", band=(0.95, 1.05))


if __name__ == "__main__":
    sys.exit(runs.main(__file__, SIM_CONFIG, create_scenario, until=END,
                       params={"start": START, "end": END, "step": STEP,
                               "pv_kw_near": PV_KW_NEAR, "pv_kw_far": PV_KW_FAR}))
