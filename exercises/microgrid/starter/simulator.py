"""{{name}}: your storage controller for the Smart Grid Lab (exercise `microgrid`).

One controller entity for the micro-grid's community battery. Every minute
it reads what the feeder exchanges with the rest of the grid, the battery's
power and its state of charge, and answers with the power the battery
should exchange. This starter leaves the battery idle (0 W): it runs and
passes `make check-sim`, but the feeder imports all it needs in the evening
and at night. Your job: store the midday surplus and use it when the feeder
would import. The place marked "Your controller" is yours.

The contract (exercises/microgrid/exercise.toml; `make check-sim` checks it):
  - a public model "Controller"; the scenario creates one;
  - inputs, every minute, in W, load convention (positive = drawn):
    "P_feeder", the power flowing into the feeder through its first cable
    (positive = the micro-grid imports, negative = it exports; the battery's
    own power is included), "P_battery", the battery's power (positive =
    charging), and "SoC", its state of charge between 0 and 1;
  - output: "P_set" in W, between -10000 and 10000 (positive = charge).
    The battery applies it one step later (a set-point computed at 19:00
    acts at 19:01), as far as its ratings and its charge allow.
"""

import mosaik_api_v3

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Controller": {
            "public": True,
            "params": [],
            "attrs": ["P_feeder", "P_battery", "SoC", "P_set"],
        },
    },
}

STEP_SIZE = 60  # seconds: the grid is solved once a minute


class Simulator(mosaik_api_v3.Simulator):
    def __init__(self):
        super().__init__(META)
        self.entities = {}  # eid -> {attribute: value}, one entry per battery

    def init(self, sid, time_resolution):
        self.time_resolution = time_resolution  # seconds per mosaik time unit
        return self.meta

    def create(self, num, model):
        first = len(self.entities)
        created = []
        for i in range(first, first + num):
            eid = f"{model}_{i}"
            self.entities[eid] = {"P_feeder": None, "P_battery": None, "SoC": None,
                                  "P_set": 0.0}
            created.append({"eid": eid, "type": model})
        return created

    def step(self, time, inputs, max_advance):
        for eid, entity in self.entities.items():
            # mosaik gives each input as {source entity: value}; one source here
            for attr in ("P_feeder", "P_battery", "SoC"):
                values = inputs.get(eid, {}).get(attr, {})
                entity[attr] = next(iter(values.values()), entity[attr])
            # Your controller: decide the battery's power from entity["P_feeder"],
            # entity["P_battery"] and entity["SoC"]. This starter keeps it idle.
            entity["P_set"] = 0.0
        return time + int(STEP_SIZE / self.time_resolution)

    def get_data(self, outputs):
        return {
            eid: {attr: self.entities[eid][attr] for attr in attrs}
            for eid, attrs in outputs.items()
        }
