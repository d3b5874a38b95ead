"""Reference solution of exercise `microgrid`: a rule-based storage controller (for teachers).

One controller entity for the micro-grid's community battery. Every minute
it works out what the feeder would exchange without the battery (the
feeder's exchange less the battery's own power) and asks the battery for
the opposite: store all the surplus, cover all the import, so the feeder
exchanges nothing while the battery can follow. It stops charging just
below the top of the state-of-charge band and discharging just above its
bottom: the set-point acts one minute later and a minute at full power
moves the state of charge by almost 1 %, so the stops keep 2 % of margin.

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
P_MAX = 10_000.0  # W: the battery's charge and discharge rating (the contract's range)
SOC_LOW, SOC_HIGH = 0.12, 0.88  # stop discharging / charging here: the band is 0.1-0.9


def set_point(p_feeder, p_battery, soc):
    """The battery power (W, positive = charge) that would cancel the feeder's
    exchange of the last minute, within the battery's rating and the SoC band."""
    wanted = -(p_feeder - p_battery)  # the surplus to store (> 0) or the import to cover
    if soc >= SOC_HIGH:
        wanted = min(wanted, 0.0)
    if soc <= SOC_LOW:
        wanted = max(wanted, 0.0)
    return min(max(wanted, -P_MAX), P_MAX)


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
            entity["P_set"] = set_point(entity["P_feeder"], entity["P_battery"], entity["SoC"])
        return time + int(STEP_SIZE / self.time_resolution)

    def get_data(self, outputs):
        return {
            eid: {attr: self.entities[eid][attr] for attr in attrs}
            for eid, attrs in outputs.items()
        }
