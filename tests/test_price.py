"""Exercise `price`: the price signal, the cars, and the rebound.

The generic tests (tests/test_exercises.py) show that the starter FAILs and
the solution PASSes. Here: the tariff and the car model on their own, and a
run with the price-only EMS (tests/ems_cheapest.py: every car in its
cheapest minutes at full power), which charges every car on time and cheaper
than the solution, but makes the street's highest peak of the day: the
rebound the peak objective is there for.
"""

import json
import shutil

import h5py
import numpy as np
import pytest

from conftest import REPO, free_port, run_scenario
from smartgrid_lab import kpis
from smartgrid_lab.evs import META, EVs
from smartgrid_lab.grading.objectives import grade
from smartgrid_lab.prices import Prices, day_ahead_prices


def test_the_day_ahead_prices_follow_the_formula():
    prices = day_ahead_prices()
    assert len(prices) == 96
    # 00:07:30, the middle of the first quarter, is 5/8 of the way from 23:30 to 00:30
    wholesale = (3 / 8 * 96 + 5 / 8 * 88) / 1000  # EUR/kWh
    assert prices[0] == round((wholesale + 0.17) * 1.19, 4) == 0.3106
    assert min(prices) == prices[53] == 0.1971  # 13:15, PV floods the market
    assert max(prices) == prices[81] == 0.436  # 20:15, the evening peak
    assert prices.index(min(prices[68:])) == 95  # the evening's cheapest: 23:45


def test_the_price_entity_gives_its_quarter_hours_price():
    sim = Prices()
    sim.init("Price-0", time_resolution=1.0, step_size=60)
    (entity,) = sim.create(1, "Price")
    eid = entity["eid"]
    assert entity["type"] == "Price"
    for time, quarter in ((0, 0), (14 * 60, 0), (15 * 60, 1), (86340, 95)):
        assert sim.step(time, {}, 86400) == time + 60
        data = sim.get_data({eid: ["price", "day_ahead"]})[eid]
        assert data["price"] == day_ahead_prices()[quarter]
        assert data["day_ahead"] == day_ahead_prices()


def ev_run(sessions, p_sets, max_kw=11.0):
    """One car stepped once a minute with the given P_set each minute: its outputs."""
    sim = EVs()
    sim.init("EVs-0", time_resolution=1.0, step_size=60)
    (entity,) = sim.create(1, "EV", sessions=sessions, max_kw=max_kw)
    eid, seen = entity["eid"], []
    for minute, p_set in enumerate(p_sets):
        sim.step(minute * 60, {eid: {"P_set": {"EMS-0.EMS_0": p_set}}}, 86400)
        seen.append(sim.get_data({eid: META["models"]["EV"]["attrs"]})[eid])
    return seen


def test_a_car_draws_what_it_is_told_within_its_wallbox_and_its_need():
    # plugged in from minute 1 to minute 5, 0.3 kWh to take: 11 kW for a minute is 0.1833 kWh
    seen = ev_run([[60, 300, 0.3]], [11_000, 11_000, 20_000, 11_000, 5_000, 11_000])
    assert [s["plugged"] for s in seen] == [0, 1, 1, 1, 1, 0]
    assert [s["P"] for s in seen] == pytest.approx([0, 11_000, 7_000, 0, 0, 0])
    assert [s["minutes_left"] for s in seen] == [0, 3, 2, 1, 0, 0]
    assert seen[2]["energy_kwh"] == 0.3 and seen[2]["energy_needed_kwh"] == 0
    assert seen[-1]["served_pct"] == 100.0


def test_a_car_that_leaves_short_says_so_and_the_next_session_starts_afresh():
    # two sessions of 3 minutes needing 0.2 kWh; 6 kW is 0.1 kWh a minute
    seen = ev_run([[0, 180, 0.2], [240, 420, 0.2]], [6_000, 0, 0, 0, 6_000, 6_000, 0])
    assert seen[2]["served_pct"] == 50.0  # left after one minute of charging
    assert seen[3]["plugged"] == 0 and seen[3]["energy_kwh"] == 0
    assert [s["energy_kwh"] for s in seen[4:]] == pytest.approx([0.1, 0.2, 0.2])
    assert seen[-1]["served_pct"] == 50.0  # the lowest of the day's sessions
    assert seen[-1]["energy_needed_kwh"] == 0


@pytest.fixture(scope="module")
def rebound_run():
    """A local run of exercise `price` with the price-only EMS in the role."""
    results = REPO / "results"
    run_id = f"test-price-rebound-{free_port()}"
    done = run_scenario(REPO / "scenarios" / "price.py", "--exercise", "price",
                        "--run-id", run_id, "--serve", f"127.0.0.1:{free_port()}",
                        "--swap", "ems=tests/ems_cheapest.py:Simulator")
    try:
        assert done.returncode == 0, done.stderr[-2000:]
        yield results / run_id
    finally:
        shutil.rmtree(results / run_id, ignore_errors=True)


def test_cheapest_minutes_for_every_car_make_the_rebound(rebound_run):
    manifest = json.loads((rebound_run / "manifest.json").read_text())
    assert manifest["exercise"] == "price"
    graded = grade(str(rebound_run))
    reached = {r.objective.id: r for r in graded.reached}
    assert reached["charged"].met and reached["charged"].kpi.value == 100
    assert reached["cost"].met  # cheapest of all: every kWh in the cheapest minutes
    assert not reached["peak"].met and reached["peak"].kpi.value > 200
    assert graded.verdict == "FAIL" and [p.where for p in graded.problems] == ["peak"]
    # The peak is the cars', all at once: 19 cars at 11 kW in the same minute
    data = kpis.RunData.load(rebound_run / "price.hdf5")
    cars = np.vstack(list(data.select(["EV"], "P").values()))
    assert cars.shape[0] == 19 and cars.sum(axis=0).max() == 19 * 11_000


def test_the_loop_is_time_shifted_and_starts_with_nothing(rebound_run):
    """A car draws at minute t what its EMS decided at t-1, nothing at the first step."""
    with h5py.File(rebound_run / "price.hdf5") as db:
        cars = [db["Series"][g] for g in db["Series"] if g.startswith("EVs-0.")]
        p_set = np.array([car["P_set"][()] for car in cars])
        power = np.array([car["P"][()] for car in cars])
    assert np.all(p_set[:, 0] == 0) and np.all(power[:, 0] == 0)
    assert np.all(power <= p_set + 1e-9)
