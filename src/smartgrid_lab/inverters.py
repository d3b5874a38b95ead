"""PV systems behind inverters that obey an active-power limit (exercise `voltage`).

Each entity is one rooftop PV system of ``peak_kw`` kWp. The sun gives what
``data/pv.csv`` says, scaled from its 10 kWp reference system: that is
``P_avail``. A real inverter can feed in less than that (it moves off the
panels' maximum power point), never more; the controller asks for it with
``P_limit_pct``, the most the inverter may feed in, in % of its rated power
(as Volt-Watt curves and grid operators' set-points do). ``P`` is what the
inverter really feeds in. Powers in W, negative = generation, like every
generator in the lab.
"""

import csv
from datetime import datetime

import mosaik_api_v3

from smartgrid_lab import datagen

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Inverter": {
            "public": True,
            "params": ["peak_kw"],
            "attrs": ["P", "P_avail", "P_limit_pct", "peak_kw"],
        },
    },
}

REFERENCE_KW = datagen.PV_PEAK_W / 1000  # the system data/pv.csv describes
NO_LIMIT = 100.0  # %: feed in all the sun gives


def read_pv_profile(datafile, sim_start):
    """{seconds since ``sim_start``: P in W} from the lab's PV CSV (see data/README.md)."""
    start = datetime.fromisoformat(sim_start)
    with open(datafile, newline="") as file:
        rows = list(csv.reader(file))[2:]  # after the model name and the header
    return {int((datetime.fromisoformat(date) - start).total_seconds()): float(power)
            for date, power in rows}


class Inverters(mosaik_api_v3.Simulator):
    def __init__(self):
        super().__init__(META)
        self.entities = {}  # eid -> {attribute: value}

    def init(self, sid, time_resolution, sim_start, datafile, step_size=60):
        self.time_resolution = time_resolution
        self.profile = read_pv_profile(datafile, sim_start)
        self.step_size = step_size
        return self.meta

    def create(self, num, model, peak_kw):
        created = []
        for i in range(len(self.entities), len(self.entities) + num):
            eid = f"{model}_{i}"
            self.entities[eid] = {"P": 0.0, "P_avail": 0.0, "P_limit_pct": NO_LIMIT,
                                  "peak_kw": float(peak_kw)}
            created.append({"eid": eid, "type": model})
        return created

    def step(self, time, inputs, max_advance):
        seconds = time * self.time_resolution
        for eid, inverter in self.entities.items():
            limits = inputs.get(eid, {}).get("P_limit_pct", {}).values()
            limit = min((v for v in limits if v is not None), default=NO_LIMIT)
            inverter["P_limit_pct"] = min(max(limit, 0.0), NO_LIMIT)
            available = self.profile[seconds] * inverter["peak_kw"] / REFERENCE_KW
            most = inverter["peak_kw"] * 1000 * inverter["P_limit_pct"] / 100
            inverter["P_avail"] = available
            inverter["P"] = max(available, -most)  # both negative: feed in at most `most`
        return time + int(self.step_size / self.time_resolution)

    def get_data(self, outputs):
        return {eid: {attr: self.entities[eid][attr] for attr in attrs}
                for eid, attrs in outputs.items()}
