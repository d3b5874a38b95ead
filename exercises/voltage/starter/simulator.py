"""{{name}}: your voltage controller for the Smart Grid Lab (exercise `voltage`).

One controller entity per PV inverter. Every minute it reads the voltage of
the inverter's grid node and answers with the most that inverter may feed
in, in % of its rated power. This starter never limits anything (100 %):
it runs and passes `make check-sim`, but at midday the feeder ends rise
above 1.05 p.u. Your job: bring them back into the band, curtailing as
little PV energy as you can. The places marked "Your controller" are yours.

The contract (exercises/voltage/exercise.toml; `make check-sim` checks it):
  - a public model "Controller"; the scenario creates one per inverter;
  - inputs, every minute: "Vm", the node voltage in V, and "Vl", the node's
    nominal voltage in V (so Vm / Vl is the voltage in p.u.);
  - output: "P_limit_pct", between 0 and 100. The inverter applies it one
    step later (a set-point computed from the voltage at 12:00 acts at 12:01).
"""

import mosaik_api_v3

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Controller": {
            "public": True,
            "params": [],
            "attrs": ["Vm", "Vl", "P_limit_pct"],
        },
    },
}

STEP_SIZE = 60  # seconds: the grid is solved once a minute


class Simulator(mosaik_api_v3.Simulator):
    def __init__(self):
        super().__init__(META)
        self.entities = {}  # eid -> {attribute: value}, one entry per inverter

    def init(self, sid, time_resolution):
        self.time_resolution = time_resolution  # seconds per mosaik time unit
        return self.meta

    def create(self, num, model):
        first = len(self.entities)
        created = []
        for i in range(first, first + num):
            eid = f"{model}_{i}"
            self.entities[eid] = {"Vm": None, "Vl": None, "P_limit_pct": 100.0}
            created.append({"eid": eid, "type": model})
        return created

    def step(self, time, inputs, max_advance):
        for eid, entity in self.entities.items():
            # mosaik gives each input as {source entity: value}; one source here
            for attr in ("Vm", "Vl"):
                values = inputs.get(eid, {}).get(attr, {})
                entity[attr] = next(iter(values.values()), entity[attr])
            # Your controller: decide the limit from the voltage, e.g. from
            # entity["Vm"] / entity["Vl"]. This starter never limits.
            entity["P_limit_pct"] = 100.0
        return time + int(STEP_SIZE / self.time_resolution)

    def get_data(self, outputs):
        return {
            eid: {attr: self.entities[eid][attr] for attr in attrs}
            for eid, attrs in outputs.items()
        }
