"""The lab's battery (smartgrid_lab.battery): limits and energy bookkeeping."""

import pytest

from smartgrid_lab.battery import META, Batteries, Battery

HOUR = 3600


def battery(**params):
    return Battery(**{"capacity_kwh": 10, "p_charge_max_kw": 5, "p_discharge_max_kw": 4,
                      "efficiency": 0.81, "soc_min": 0.1, "soc_max": 0.9,
                      "soc_init": 0.5} | params)


def test_efficiency_is_split_between_charging_and_discharging():
    b = battery()
    assert b.exchange(2000, HOUR) == 2000
    assert b.e_kwh == pytest.approx(5 + 2 * 0.9)  # 2 kWh drawn store 1.8 kWh
    assert b.exchange(-900, HOUR) == -900
    assert b.e_kwh == pytest.approx(6.8 - 1.0)  # 0.9 kWh fed in take 1 kWh out
    assert b.soc == pytest.approx(0.58)


def test_power_is_limited_to_the_ratings():
    b = battery()
    assert b.exchange(8000, 60) == 5000
    assert b.exchange(-8000, 60) == -4000
    assert b.p_set == -8000  # what was asked stays visible


def test_a_full_battery_takes_only_what_fits_below_soc_max():
    b = battery(soc_init=0.85)  # 0.5 kWh below soc_max: 0.5 / 0.9 kWh from the grid
    assert b.exchange(5000, HOUR) == pytest.approx(500 / 0.9)
    assert b.soc == pytest.approx(0.9)
    assert b.exchange(5000, HOUR) == 0.0 and b.soc == pytest.approx(0.9)


def test_an_empty_battery_gives_only_what_is_left_above_soc_min():
    b = battery(soc_init=0.2)  # 1 kWh above soc_min: 0.9 kWh to the grid
    assert b.exchange(-4000, HOUR) == pytest.approx(-900)
    assert b.soc == pytest.approx(0.1)
    assert b.exchange(-4000, HOUR) == 0.0 and b.soc == pytest.approx(0.1)


def test_impossible_batteries_are_refused():
    for params in ({"efficiency": 0}, {"efficiency": 1.1}, {"soc_init": 0.95},
                   {"capacity_kwh": 0}, {"p_charge_max_kw": -1}):
        with pytest.raises(ValueError, match="a battery needs"):
            battery(**params)


def test_the_simulator_reports_the_charge_at_the_start_of_each_step():
    sim = Batteries()
    sim.init("Battery-0", time_resolution=1.0, step_size=60)
    params = {"capacity_kwh": 1, "p_charge_max_kw": 60, "p_discharge_max_kw": 60,
              "efficiency": 1.0, "soc_init": 0.0}
    assert sim.create(1, "Battery", **params) == [{"eid": "Battery_0", "type": "Battery"}]
    attrs = {"Battery_0": META["models"]["Battery"]["attrs"]}
    assert sim.get_data(attrs)["Battery_0"] == {"P_set": 0.0, "P": 0.0, "SoC": 0.0,
                                                "E_kwh": 0.0}
    sources = {"Controller-0.Controller_0": 20_000.0, "Controller-0.Controller_1": 10_000.0}
    assert sim.step(0, {"Battery_0": {"P_set": sources}}, 86400) == 60
    assert sim.get_data(attrs)["Battery_0"] == {"P_set": 30_000.0, "P": 30_000.0, "SoC": 0.0,
                                                "E_kwh": 0.0}
    assert sim.step(60, {"Battery_0": {"P_set": {"Controller-0.Controller_0": 60_000.0}}},
                    86400) == 120
    data = sim.get_data(attrs)["Battery_0"]
    assert data["E_kwh"] == pytest.approx(0.5)  # 30 kW for a minute, stored before this step
    assert data["P"] == pytest.approx(30_000)  # only half a kWh still fits in a minute
