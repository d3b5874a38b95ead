"""Reference solution of exercise `model`: PV with a battery (for teachers).

Each system feeds in at most FEED_IN_CAP; what the panels make beyond it
charges a battery, which gives it back whenever the panels make less than
the cap, so the midday peak is shaved and (almost) no energy is lost.

The demo scenario relies on a few things (`make check-sim SIM={{name}}` checks
them), so keep these:
  - init() takes ``sim_start`` ("YYYY-MM-DD HH:MM:SS") and ``datafile``;
  - a public model "PV" with the attribute "P": the power in W the system
    puts on its grid node, negative = generation (the grid takes loads as
    positive);
  - step() returns the next time, one step a minute.
"""

import csv
from datetime import datetime, timedelta

import mosaik_api_v3

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "PV": {
            "public": True,
            "params": [],
            "attrs": ["P", "SoC"],
        },
    },
}

STEP_SIZE = 60  # seconds: the data has one value a minute
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
FEED_IN_CAP = 5000.0  # W: the most a system puts on the grid
CAPACITY = 16_000.0 * 3600  # J: a 16 kWh battery
EFFICIENCY = 0.95  # of charging, and again of discharging


def read_profile(datafile):
    """{time: P in W} from the lab's CSV: the model name, a header, then one row a minute."""
    with open(datafile, newline="") as file:
        rows = csv.reader(file)
        next(rows)  # the model name: PV
        next(rows)  # the header: Date,P
        return {datetime.strptime(date, DATE_FORMAT): float(power) for date, power in rows}


class Simulator(mosaik_api_v3.Simulator):
    def __init__(self):
        super().__init__(META)
        self.entities = {}  # eid -> {attribute: value}, one entry per PV system

    def init(self, sid, time_resolution, sim_start, datafile):
        self.time_resolution = time_resolution  # seconds per mosaik time unit
        self.start = datetime.strptime(sim_start, DATE_FORMAT)
        self.profile = read_profile(datafile)
        return self.meta

    def create(self, num, model):
        first = len(self.entities)
        created = []
        for i in range(first, first + num):
            eid = f"{model}_{i}"
            self.entities[eid] = {"P": 0.0, "SoC": 0.0, "stored": 0.0}
            created.append({"eid": eid, "type": model})
        return created

    def step(self, time, inputs, max_advance):
        now = self.start + timedelta(seconds=time * self.time_resolution)
        generated = self.profile[now]  # W, negative: what the panels make right now
        for entity in self.entities.values():
            surplus = -generated - FEED_IN_CAP  # W beyond the cap (> 0), or room below it
            if surplus > 0:  # charge with what the grid may not take
                charge = min(surplus * EFFICIENCY * STEP_SIZE, CAPACITY - entity["stored"])
                entity["stored"] += charge
                entity["P"] = generated + charge / EFFICIENCY / STEP_SIZE
            else:  # discharge into the room left below the cap
                discharge = min(-surplus * STEP_SIZE, entity["stored"] * EFFICIENCY)
                entity["stored"] -= discharge / EFFICIENCY
                entity["P"] = generated - discharge / STEP_SIZE
            entity["SoC"] = entity["stored"] / CAPACITY
        return time + int(STEP_SIZE / self.time_resolution)

    def get_data(self, outputs):
        return {
            eid: {attr: self.entities[eid][attr] for attr in attrs}
            for eid, attrs in outputs.items()
        }
