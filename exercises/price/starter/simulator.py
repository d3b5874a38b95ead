"""{{name}}: your home energy manager (EMS) for the Smart Grid Lab (exercise `price`).

One EMS entity per electric car. Every minute it reads the electricity
price and its car's state and answers with the power the car may draw.
This starter charges at full power as soon as the car is plugged in: every
car is full on time, but it buys the evening's most expensive energy and
all cars plugged in at midnight start together. Your job: pay less, without
making a new peak in the street. The places marked "Your EMS" are yours.

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


class Simulator(mosaik_api_v3.Simulator):
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
            # Your EMS: decide the power from the price, entity["day_ahead"]
            # and the car's state. This starter charges as soon as it can.
            needs_energy = entity["plugged"] and entity["energy_needed_kwh"] > 0
            entity["P_set"] = float(MAX_W) if needs_energy else 0.0
        return time + int(STEP_SIZE / self.time_resolution)

    def get_data(self, outputs):
        return {
            eid: {attr: self.entities[eid][attr] for attr in attrs}
            for eid, attrs in outputs.items()
        }
