"""Reference solution of exercise `voltage`: a local Volt-Watt droop (for teachers).

One controller entity per PV inverter. Every minute it reads the voltage of
the inverter's grid node and answers with the most that inverter may feed
in, in % of its rated power. Like the Volt-Watt curves of EN 50549 and
IEEE 1547, the limit falls linearly from 100 % at V_START to 0 % at V_FULL;
each inverter only needs its own node's voltage, no communication. The
set-point moves only part of the way each minute (SMOOTHING): with the
one-step delay of the loop, jumping straight to the curve's value would make
neighbouring inverters overshoot and oscillate.

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
V_START, V_FULL = 1.03, 1.05  # p.u.: curtailment starts, and is total
SMOOTHING = 0.5  # share of the way to the curve's value taken each minute


def volt_watt(per_unit):
    """The most an inverter may feed in (% of rated) at this voltage."""
    share = (V_FULL - per_unit) / (V_FULL - V_START)
    return 100.0 * min(max(share, 0.0), 1.0)


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
            target = volt_watt(entity["Vm"] / entity["Vl"])
            entity["P_limit_pct"] += SMOOTHING * (target - entity["P_limit_pct"])
        return time + int(STEP_SIZE / self.time_resolution)

    def get_data(self, outputs):
        return {
            eid: {attr: self.entities[eid][attr] for attr in attrs}
            for eid, attrs in outputs.items()
        }
