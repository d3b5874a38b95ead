"""{{name}}: your own PV simulator for the Smart Grid Lab.

It starts as a copy of the stock PV service: every PV system the scenario
creates feeds in what data/pv.csv says, one value a minute. Make it your own,
e.g. give each system a battery that stores the midday surplus and feeds it in
after sunset; the comments marked "Your model" show where.

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
            "attrs": ["P"],  # Your model: add attributes here, e.g. "SoC"
        },
    },
}

STEP_SIZE = 60  # seconds: the data has one value a minute
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


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
            self.entities[eid] = {"P": 0.0}  # Your model: its state, e.g. "SoC": 0.0
            created.append({"eid": eid, "type": model})
        return created

    def step(self, time, inputs, max_advance):
        now = self.start + timedelta(seconds=time * self.time_resolution)
        generated = self.profile[now]  # W, negative: what the panels make right now
        for entity in self.entities.values():
            # Your model: decide what goes to the grid. A battery would take
            # part of `generated` while the sun is high and return it later.
            entity["P"] = generated
        return time + int(STEP_SIZE / self.time_resolution)

    def get_data(self, outputs):
        return {
            eid: {attr: self.entities[eid][attr] for attr in attrs}
            for eid, attrs in outputs.items()
        }
