"""The price signal of exercise `price`: a dynamic electricity tariff.

Households on a dynamic tariff pay, for every kWh, the day-ahead market
price of its quarter-hour plus fixed grid fees, levies and VAT; the
quarter-hour prices of a day are published the afternoon before, so a home
energy manager knows the whole day in advance. Our prices are our own, made
by :func:`day_ahead_prices` from a documented formula, not market data:

- ``WHOLESALE_EUR_PER_MWH``: one wholesale price per hour, a stylised sunny
  midsummer Saturday (cheap nights, a dip below zero at midday when PV
  floods the market, an expensive evening peak around 20:00), each the
  value at the middle of its hour;
- quarter-hours in between: linear interpolation between those hourly
  points (periodic over the day), so every quarter-hour has its own price
  and the cheapest one is unique, as on a real market;
- retail price = (wholesale + ``FEES_EUR_PER_KWH``) * (1 + ``VAT``),
  rounded to 0.01 ct.

The simulator gives ``price``, the price of the current minute's
quarter-hour in EUR/kWh (what a smart meter bills that minute: the entity
type Price, which :func:`smartgrid_lab.kpis.cost_eur` reads), and
``day_ahead``, the day's 96 quarter-hour prices.
"""

import math

import mosaik_api_v3

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Price": {
            "public": True,
            "params": [],
            "attrs": ["price", "day_ahead"],
        },
    },
}

WHOLESALE_EUR_PER_MWH = (  # 00:00-01:00, 01:00-02:00, ..., 23:00-24:00
    88, 82, 76, 72, 70, 74, 85, 100, 90, 62, 35, 12,
    0, -5, 5, 28, 65, 110, 145, 185, 198, 165, 118, 96,
)
FEES_EUR_PER_KWH = 0.17  # grid fees, levies and taxes before VAT
VAT = 0.19
QUARTER = 15 * 60  # seconds


def day_ahead_prices() -> list[float]:
    """The day's 96 quarter-hour retail prices in EUR/kWh (see the module docstring)."""
    hours = len(WHOLESALE_EUR_PER_MWH)
    prices = []
    for quarter in range(4 * hours):
        x = (quarter + 0.5) / 4 - 0.5  # in hours, from the middle of the first hour
        hour, share = math.floor(x), x - math.floor(x)
        wholesale = ((1 - share) * WHOLESALE_EUR_PER_MWH[hour % hours]
                     + share * WHOLESALE_EUR_PER_MWH[(hour + 1) % hours])
        prices.append(round((wholesale / 1000 + FEES_EUR_PER_KWH) * (1 + VAT), 4))
    return prices


class Prices(mosaik_api_v3.Simulator):
    def __init__(self):
        super().__init__(META)
        self.entities = {}  # eid -> {attribute: value}
        self.day_ahead = day_ahead_prices()

    def init(self, sid, time_resolution, step_size=60):
        self.time_resolution = time_resolution
        self.step_size = step_size
        return self.meta

    def create(self, num, model):
        created = []
        for i in range(len(self.entities), len(self.entities) + num):
            eid = f"{model}_{i}"
            self.entities[eid] = {"price": self.day_ahead[0], "day_ahead": self.day_ahead}
            created.append({"eid": eid, "type": model})
        return created

    def step(self, time, inputs, max_advance):
        quarter = int(time * self.time_resolution) // QUARTER % len(self.day_ahead)
        for entity in self.entities.values():
            entity["price"] = self.day_ahead[quarter]
        return time + int(self.step_size / self.time_resolution)

    def get_data(self, outputs):
        return {eid: {attr: self.entities[eid][attr] for attr in attrs}
                for eid, attrs in outputs.items()}
