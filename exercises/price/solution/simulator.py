"""Reference solution of exercise `price`: the cheapest minutes, at a capped power (for teachers).

One EMS entity per electric car. Every minute each car's EMS plans the rest
of its session from the day-ahead prices: of the minutes until departure it
takes the cheapest ones, just enough to charge what the car still needs,
and charges in the next minute only if that minute is one of them.
Planning again every minute keeps the plan right whatever happened since;
the chosen minutes only get fewer, so the car is full on time.

On price alone, every car would pick the same cheapest minutes at full
power, and the street would draw its highest peak of the day right there:
the rebound. So each car charges at ``cap_w`` (5 kW), not its wallbox's
11 kW: 19 cars at once then draw 95 kW, with the households' 10-15 kW at
night within the street's 120 kW. A car that could not finish at 5 kW in
the time it has left charges faster, up to 11 kW. No car needs to know the
others: the cap alone keeps them apart enough.

The contract (exercises/price/exercise.toml; `make check-sim` checks it):
  - a public model "EMS"; the scenario creates one per car;
  - inputs, every minute: "price", the price of this minute in EUR/kWh;
    "day_ahead", the day's 96 quarter-hour prices in EUR/kWh (index
    minute // 15: 00:00-00:15 is 0, 23:45-24:00 is 95); from the car:
    "plugged" (1 or 0), "energy_needed_kwh" still to charge before it
    leaves and "minutes_left" until it leaves;
  - output: "P_set", the power the car may draw in W, 0 to 11000 (its
    wallbox's 11 kW). The car applies it one step later: a P_set computed
    at 22:00 is drawn during 22:01-22:02; the car takes no more than it
    still needs.
"""

import math

import mosaik_api_v3

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "EMS": {
            "public": True,
            "params": [],
            "attrs": ["price", "day_ahead", "plugged", "energy_needed_kwh", "minutes_left",
                      "P_set"],
        },
    },
}

STEP_SIZE = 60  # seconds: one decision a minute
INPUTS = ("price", "day_ahead", "plugged", "energy_needed_kwh", "minutes_left")
MAX_W = 11_000  # the wallbox's most


def next_minute_power(minute, needed_kwh, minutes_left, day_ahead, cap_w) -> float:
    """W to draw in ``minute`` (of the day): ``cap_w`` (or more if that is too
    little to finish) if ``minute`` is among the cheapest minutes enough to
    charge ``needed_kwh`` in the ``minutes_left`` from it on, else 0."""
    if needed_kwh <= 0 or minutes_left <= 0:
        return 0.0
    power = min(MAX_W, max(cap_w, needed_kwh * 60_000 / minutes_left))
    minutes = math.ceil(needed_kwh * 60_000 / power - 1e-9)

    def price(m):
        return day_ahead[m // 15 % len(day_ahead)]

    # It is among the cheapest `minutes` if fewer are cheaper (of equal ones, the earliest)
    cheaper = sum(1 for m in range(minute + 1, minute + minutes_left) if price(m) < price(minute))
    return float(power) if cheaper < minutes else 0.0


class Simulator(mosaik_api_v3.Simulator):
    cap_w = 5_000  # W: what each car draws when it charges (unless it must hurry)

    def __init__(self):
        super().__init__(META)
        self.entities = {}  # eid -> {attribute: value}, one entry per car

    def init(self, sid, time_resolution):
        self.time_resolution = time_resolution  # seconds per mosaik time unit
        return self.meta

    def create(self, num, model):
        first = len(self.entities)
        created = []
        for i in range(first, first + num):
            eid = f"{model}_{i}"
            self.entities[eid] = {attr: None for attr in INPUTS} | {"P_set": 0.0}
            created.append({"eid": eid, "type": model})
        return created

    def step(self, time, inputs, max_advance):
        for eid, entity in self.entities.items():
            # mosaik gives each input as {source entity: value}; one source here
            for attr in INPUTS:
                values = inputs.get(eid, {}).get(attr, {})
                entity[attr] = next(iter(values.values()), entity[attr])
            minute = int(time * self.time_resolution) // 60 + 1  # the one P_set acts on
            needed = entity["energy_needed_kwh"] if entity["plugged"] else 0.0
            entity["P_set"] = next_minute_power(minute, needed, entity["minutes_left"],
                                                entity["day_ahead"], self.cap_w)
        return time + int(STEP_SIZE / self.time_resolution)

    def get_data(self, outputs):
        return {
            eid: {attr: self.entities[eid][attr] for attr in attrs}
            for eid, attrs in outputs.items()
        }
