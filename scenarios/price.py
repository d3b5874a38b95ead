"""Exercise `price` (TP4): charge electric cars on a price signal without a rebound.

The lab's grid and households, as in the demo (no PV), with an electric car
at every second house (smartgrid_lab.evs) and a smart meter that bills each
quarter-hour at its own price (a dynamic tariff, smartgrid_lab.prices). The
student's EMS (home energy management), one entity per car, reads the price,
the day's quarter-hour prices and its car's state every minute and sends
back the power the car may draw: a closed loop. As in exercise `voltage`,
the set-point is a *time-shifted* connection: the car draws at minute t
what the EMS decided at minute t-1 (nothing at the very first step).

Each car charges twice in the day: it is plugged in at 00:00 (it came home
last night) and leaves between 06:30 and 07:30; it comes back between 17:00
and 19:30 and must be full again by the end of the simulated day, 24:00.

    python scenarios/price.py             # all simulators in this process
    python scenarios/price.py --remote    # each simulator in its container
"""

import sys

from mosaik.util import connect_many_to_one

from smartgrid_lab import datagen, inputs, runs
from smartgrid_lab.lab_grid import DATA, STEP, LabGrid

SIM_CONFIG = {
    "Grid": {"python": "smartgrid_lab.pgm_grid:PgmGrid"},
    "Households": {"python": "mosaik_components.household.mosaik:Simulator"},
    "Price": {"python": "smartgrid_lab.prices:Prices"},
    "EVs": {"python": "smartgrid_lab.evs:EVs"},
    "EMS": {"python": "exercises/price/starter/simulator.py:Simulator"},
    "Recorder": {"python": "smartgrid_lab.recorder:Recorder"},
    "Web": {"python": "smartgrid_lab.web:Visualiser"},
}

START = datagen.START
END = 24 * 60 * 60  # one day, in seconds
EV_MAX_KW = 11  # a three-phase 16 A wallbox


def ev_sessions(k: int) -> list[list]:
    """The day of car ``k``: [arrive, depart, kWh to charge] twice, in seconds
    since 00:00. Spread by fixed strides, so every car differs and every run
    is the same: leaves 06:30-07:30 needing 6-14 kWh more, comes back
    17:00-19:30 needing 10-20 kWh by 24:00."""
    leave = (6 * 60 + 30 + 17 * k % 61) * 60
    back = (17 * 60 + 37 * k % 151) * 60
    return [[0, leave, 6 + 5 * k % 9], [back, END, 10 + 7 * k % 11]]


def create_scenario(world, run):
    # Check the input files: a clear error now beats a traceback deep in a simulator
    inputs.check_inputs(DATA, datagen.GRID_NAME, steps=END // STEP, start=START)

    # Start simulators
    grid_sim = world.start("Grid", step_size=STEP)
    household_sim = world.start("Households")
    price_sim = world.start("Price", step_size=STEP)
    ev_sim = world.start("EVs", step_size=STEP)
    ems_sim = world.start("EMS")
    recorder_sim = world.start("Recorder", step_size=STEP, duration=END)

    # Instantiate models: the grid with its households, the price signal, a
    # car at every second house and one EMS per car
    grid = LabGrid(world, grid_sim, household_sim)
    price = price_sim.Price()
    homes = grid.houses[::2]
    evs = [ev_sim.EV(sessions=ev_sessions(k), max_kw=EV_MAX_KW) for k in range(len(homes))]
    ems = ems_sim.EMS.create(len(evs))

    # The closed loop: price and car state -> EMS -> car -> its house's node
    for house, ev, manager in zip(homes, evs, ems, strict=True):
        world.connect(ev, grid.buses[grid.house_node[house]], "P")
        world.connect(price, manager, "price", "day_ahead")
        world.connect(ev, manager, "plugged", "energy_needed_kwh", "minutes_left")
        world.connect(manager, ev, "P_set", time_shifted=True, initial_data={"P_set": 0.0})

    # Record everything
    db = recorder_sim.Database(filename=str(run.hdf5_file), buf_size=60)
    grid.record(world, db)
    world.connect(price, db, "price")
    connect_many_to_one(world, evs, db, "P", "P_set", "plugged", "energy_kwh",
                        "energy_needed_kwh", "served_pct")

    # Web visualisation: the cars drawn as loads of up to 11 kW
    web_sim = run.start_page(world, start_date=START, step_size=STEP)
    grid.show(world, web_sim, evs, "EV", p_range=(0, EV_MAX_KW * 1000))


if __name__ == "__main__":
    sys.exit(runs.main(__file__, SIM_CONFIG, create_scenario, until=END,
                       params={"start": START, "end": END, "step": STEP,
                               "ev_max_kw": EV_MAX_KW}))
