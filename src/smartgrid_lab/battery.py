"""Stationary batteries that follow a power set-point (exercise `microgrid`).

Each entity is one battery of ``capacity_kwh``. A controller asks for a
power with ``P_set`` (W, load convention like every device in the lab:
positive = charging, drawn from the grid; negative = discharging, fed in).
The battery delivers what it can: ``P``, the power it really exchanges with
the grid during the coming step, is ``P_set`` limited to the charge and
discharge power ratings and to what fits into, or is left in, the battery
between ``soc_min`` and ``soc_max`` (its management system's cut-offs).

Energy bookkeeping: the round-trip ``efficiency`` is split evenly between
the two directions, so 1 kWh drawn from the grid stores sqrt(efficiency)
kWh, and 1 kWh stored gives sqrt(efficiency) kWh back to the grid.
``E_kwh`` and ``SoC`` are the energy stored at the start of the step (what
a meter reads at that minute); ``P`` acts from then until the next step.

No maintained mosaik battery on PyPI fits: mosaik-battery 0.1 replays fixed
charge schedules, has no efficiency and imports the retired ``mosaik_api``;
mosaik-batterysim 1.0 (2018) replays battery profiles from a file.
"""

import math

import mosaik_api_v3

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Battery": {
            "public": True,
            "params": ["capacity_kwh", "p_charge_max_kw", "p_discharge_max_kw", "efficiency",
                       "soc_min", "soc_max", "soc_init"],
            "attrs": ["P_set", "P", "SoC", "E_kwh"],
        },
    },
}

J_PER_KWH = 3.6e6


class Battery:
    """One battery: its ratings and the energy it holds."""

    def __init__(self, capacity_kwh, p_charge_max_kw, p_discharge_max_kw, efficiency=0.9,
                 soc_min=0.0, soc_max=1.0, soc_init=0.5):
        if not (0 < efficiency <= 1 and 0 <= soc_min <= soc_init <= soc_max <= 1
                and capacity_kwh > 0 and p_charge_max_kw >= 0 and p_discharge_max_kw >= 0):
            raise ValueError("a battery needs capacity_kwh > 0, power ratings >= 0, "
                             "0 < efficiency <= 1 and 0 <= soc_min <= soc_init <= soc_max <= 1")
        self.capacity_kwh = capacity_kwh
        self.p_charge_max_w = p_charge_max_kw * 1e3
        self.p_discharge_max_w = p_discharge_max_kw * 1e3
        self.one_way = math.sqrt(efficiency)  # each direction's share of the round trip
        self.e_min, self.e_max = soc_min * capacity_kwh, soc_max * capacity_kwh
        self.e_kwh = soc_init * capacity_kwh
        self.p_set = self.p = 0.0

    @property
    def soc(self) -> float:
        return self.e_kwh / self.capacity_kwh

    def exchange(self, p_set: float, seconds: float) -> float:
        """Exchange ``p_set`` W with the grid for ``seconds``, as far as the ratings
        and the stored energy allow; return the power really exchanged."""
        hours = seconds / 3600
        headroom_w = (self.e_max - self.e_kwh) / self.one_way / hours * 1e3
        available_w = (self.e_kwh - self.e_min) * self.one_way / hours * 1e3
        self.p_set = p_set
        self.p = min(max(p_set, -self.p_discharge_max_w, -available_w),
                     self.p_charge_max_w, headroom_w)
        stored_kwh = self.p * hours / 1e3
        stored_kwh *= self.one_way if self.p > 0 else 1 / self.one_way
        self.e_kwh = min(max(self.e_kwh + stored_kwh, self.e_min), self.e_max)  # rounding only
        return self.p


class Batteries(mosaik_api_v3.Simulator):
    def __init__(self):
        super().__init__(META)
        self.batteries = {}  # eid -> Battery
        self.outputs = {}  # eid -> {attribute: value} as of the last step

    def init(self, sid, time_resolution, step_size=60):
        self.time_resolution = time_resolution
        self.step_size = step_size
        return self.meta

    def create(self, num, model, **params):
        created = []
        for i in range(len(self.batteries), len(self.batteries) + num):
            eid = f"{model}_{i}"
            self.batteries[eid] = Battery(**params)
            self.outputs[eid] = self.state(self.batteries[eid])
            created.append({"eid": eid, "type": model})
        return created

    def step(self, time, inputs, max_advance):
        seconds = self.step_size
        for eid, battery in self.batteries.items():
            set_points = inputs.get(eid, {}).get("P_set", {}).values()
            p_set = sum(v for v in set_points if v is not None)  # several controllers add up
            stored = self.state(battery)  # before the exchange: the meter reading at `time`
            battery.exchange(p_set, seconds)
            self.outputs[eid] = stored | {"P_set": battery.p_set, "P": battery.p}
        return time + int(seconds / self.time_resolution)

    @staticmethod
    def state(battery: Battery) -> dict:
        return {"P_set": battery.p_set, "P": battery.p, "SoC": battery.soc,
                "E_kwh": battery.e_kwh}

    def get_data(self, outputs):
        return {eid: {attr: self.outputs[eid][attr] for attr in attrs}
                for eid, attrs in outputs.items()}
