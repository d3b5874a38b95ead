"""A home energy manager that buys every car's cheapest minutes at full power
(for tests/test_price.py): exercise `price`'s reference solution without its
power cap, i.e. what price alone says. Every car then charges in the same
cheapest quarter-hours at 11 kW: the rebound."""

from smartgrid_lab.simulators import load_class

Solution = load_class("exercises/price/solution/simulator.py:Simulator")


class Simulator(Solution):
    cap_w = 11_000  # the wallbox's most: no cap
