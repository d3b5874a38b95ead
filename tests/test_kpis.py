"""KPIs on small hand-made HDF5 files with known answers, and on a real run."""

import math

import h5py
import numpy as np
import pytest

from smartgrid_lab.kpis import KPIS, RunData, compute, types_read

NAN = float("nan")


def write_run(path, entities, steps_recorded=None, step_seconds=60, typed=True):
    """An HDF5 file laid out as the lab's recorder writes it, loaded back.

    ``entities``: {full id: (type, {attr: values})}."""
    with h5py.File(path, "w") as db:
        for entity, (etype, attrs) in entities.items():
            group = db.create_group(f"Series/{entity}")
            if typed:
                group.attrs["type"] = etype
            for attr, values in attrs.items():
                group.create_dataset(attr, data=np.asarray(values, dtype=float))
        if steps_recorded is not None:
            db.attrs["steps_recorded"] = steps_recorded
    return RunData.load(path, step_seconds=step_seconds)


def bus(etype, vm, vl=400.0, p=None):
    attrs = {"Vm": vm, "Vl": [vl] * len(vm)}
    return (etype, attrs | ({"P": p} if p is not None else {}))


def full_run(steps):
    """Every kind of entity a KPI reads, with plain values for ``steps`` steps."""
    ones = [1.0] * steps
    return {
        "Grid-0.0-tr_pri": bus("RefBus", [20e3] * steps, 20e3, p=[500.0] * steps),
        "Grid-0.0-node_a1": bus("PQBus", [400.0] * steps),
        "Grid-0.0-transformer": ("Transformer", {"P_from": [500.0] * steps,
                                                 "Q_from": [0.0] * steps}),
        "Households-0.House_0": ("House", {"P_out": [1000.0] * steps}),
        "PV-0.PV_0": ("PV", {"P": [-500.0] * steps, "P_avail": [-600.0] * steps}),
        "Market-0.Price_0": ("Price", {"price": [0.3] * steps}),
        "Battery-0.Battery_0": ("Battery", {"SoC": ones, "E_kwh": ones, "P": ones}),
    }


# Parameters each KPI needs beyond its defaults, to run on full_run.
REQUIRED = {"max_loading_percent": {"rating_kva": 250}, "min_value": {"attr": "SoC"},
            "max_value": {"attr": "SoC"}, "last_value": {"attr": "SoC"},
            "peak_kw_between": {"start_hour": 0, "end_hour": 24},
            "storage_energy_created_kwh": {"efficiency": 0.9}}


# --- Voltage ------------------------------------------------------------------

@pytest.fixture
def voltages(tmp_path):
    return write_run(tmp_path / "v.hdf5", {
        "Grid-0.0-tr_pri": bus("RefBus", [24e3, 24e3, 24e3], 20e3),  # 1.2 p.u., not a PQBus
        "Grid-0.0-node_a1": bus("PQBus", [400, 424, 400]),  # 1.06 p.u. at step 1
        "Grid-0.0-node_a2": bus("PQBus", [400, 400, 376]),  # 0.94 p.u. at step 2
    })


def test_voltage_violation_counts_minutes_with_any_bus_outside(voltages):
    result = compute(voltages, "voltage_violation_minutes")
    assert (result.value, result.unit) == (2.0, "min")
    np.testing.assert_array_equal(result.curve, [0, 1, 2])
    assert "1 steps above 1.05 p.u., 1 below 0.95 p.u." in result.note
    assert compute(voltages, "voltage_violation_minutes", high=1.1).value == 1.0
    assert compute(voltages, "voltage_violation_minutes", match="*node_a1").value == 1.0
    assert compute(voltages, "voltage_violation_minutes", types="RefBus").value == 3.0


def test_violation_minutes_follow_the_step_length(tmp_path):
    run = write_run(tmp_path / "v.hdf5", {"Grid-0.0-node_a1": bus("PQBus", [424, 424])},
                    step_seconds=900)
    assert compute(run, "voltage_violation_minutes").value == 30.0


def test_max_and_min_voltage_name_the_bus_and_step(voltages):
    high = compute(voltages, "max_voltage_pu")
    assert high.value == pytest.approx(1.06)
    assert "node_a1, step 1 (00:01" in high.note
    np.testing.assert_allclose(high.curve, [1.0, 1.06, 1.0])
    low = compute(voltages, "min_voltage_pu")
    assert low.value == pytest.approx(0.94)
    assert "node_a2, step 2" in low.note


def test_voltage_without_nominal_voltage_is_nan(tmp_path):
    run = write_run(tmp_path / "v.hdf5", {"Grid-0.0-node_a1": ("PQBus", {"Vm": [400.0]})})
    result = compute(run, "max_voltage_pu")
    assert math.isnan(result.value)
    assert result.note == "Vl not recorded for Grid-0.0-node_a1; p.u. = Vm / Vl needs it"


# --- Energy and power ---------------------------------------------------------

@pytest.fixture
def exchange(tmp_path):
    """Hourly steps: the slack bus draws 1 kW, feeds 2 kW back, draws 3 kW."""
    return write_run(tmp_path / "e.hdf5", {
        "Grid-0.0-tr_pri": bus("RefBus", [20e3] * 3, 20e3, p=[1000, -2000, 3000]),
        "Households-0.House_0": ("House", {"P_out": [500, 500, 1000]}),
        "Households-0.House_1": ("House", {"P_out": [1500, 0, 1000]}),
    }, step_seconds=3600)


def test_energy_by_sign(exchange):
    assert compute(exchange, "energy_kwh", sign="consumed").value == pytest.approx(4.0)
    assert compute(exchange, "energy_kwh", sign="fed-in").value == pytest.approx(2.0)
    net = compute(exchange, "energy_kwh")
    assert (net.value, net.unit) == (pytest.approx(2.0), "kWh")
    np.testing.assert_allclose(net.curve, [1, -1, 2])


def test_energy_of_households_reads_p_out(exchange):
    assert compute(exchange, "energy_kwh", types="House").value == pytest.approx(4.5)


def test_peak_of_the_summed_power(exchange):
    assert compute(exchange, "peak_kw").value == pytest.approx(3.0)
    assert compute(exchange, "peak_kw", sign="fed-in").value == pytest.approx(2.0)
    houses = compute(exchange, "peak_kw", types=("House",))
    assert houses.value == pytest.approx(2.0)  # 500 + 1500 W at step 0, 1000 + 1000 at step 2
    assert "step 0" in houses.note
    np.testing.assert_allclose(houses.curve, [2.0, 0.5, 2.0])


def test_peak_within_hours_of_the_run(exchange):
    evening = compute(exchange, "peak_kw_between", start_hour=1, end_hour=2)
    assert evening.value == pytest.approx(0.0)  # hour 1 feeds in: it draws nothing
    np.testing.assert_array_equal(evening.curve, [NAN, 0.0, NAN])
    assert "between hours 1 and 2 at step 1" in evening.note
    assert compute(exchange, "peak_kw_between", start_hour=1, end_hour=3).value == 3.0
    assert compute(exchange, "peak_kw_between", start_hour=0, end_hour=2,
                   sign="fed-in").value == 2.0
    late = compute(exchange, "peak_kw_between", start_hour=5, end_hour=6)
    assert math.isnan(late.value) and late.note == "no step between hours 5 and 6 has values"
    with pytest.raises(ValueError, match=r"start_hour \(2\) must be at least 0 and below"):
        compute(exchange, "peak_kw_between", start_hour=2, end_hour=2)


def test_no_matching_entity_says_what_was_looked_for(exchange):
    result = compute(exchange, "energy_kwh", types="EV")
    assert math.isnan(result.value)
    assert result.note == "no power: no entity of type EV records P or P_out"


# --- Loading ------------------------------------------------------------------

@pytest.fixture
def transformer(tmp_path):
    return write_run(tmp_path / "t.hdf5", {
        "Grid-0.0-transformer": ("Transformer", {"P_from": [100e3, -200e3],
                                                 "Q_from": [0, 150e3],
                                                 "S_r": [250e3, 250e3]}),
        "Grid-0.0-branch_1": ("Branch", {"P_from": [1e3, 1e3], "Q_from": [0, 0]}),
    })


def test_loading_from_apparent_power_and_rating(transformer):
    result = compute(transformer, "max_loading_percent", rating_kva=250)
    assert result.value == pytest.approx(100.0)  # |(-200, 150) kVA| = 250 kVA
    np.testing.assert_allclose(result.curve, [40.0, 100.0])
    assert "transformer, step 1" in result.note
    assert compute(transformer, "max_loading_percent").value == pytest.approx(100.0)  # S_r


def test_loading_without_rating_is_nan(transformer):
    result = compute(transformer, "max_loading_percent", types="Branch")
    assert math.isnan(result.value)
    assert "rating_kva" in result.note
    assert compute(transformer, "max_loading_percent", types="Branch",
                   rating_kva=10).value == pytest.approx(10.0)


# --- Curtailment --------------------------------------------------------------

def test_curtailed_share_of_available_energy(tmp_path):
    run = write_run(tmp_path / "c.hdf5", {
        "PV-0.PV_0": ("PV", {"P_avail": [-1000, -2000, 0], "P": [-1000, -1500, 0]}),
        "PV-0.PV_1": ("PV", {"P_avail": [-1000, -1000, -1000], "P": [-500, -1000, -1000]}),
        "Households-0.House_0": ("House", {"P_out": [100, 100, 100]}),  # no P_avail: ignored
    })
    result = compute(run, "curtailed_share_percent")
    assert (result.value, result.unit) == (pytest.approx(100 * 1000 / 6000), "%")
    np.testing.assert_allclose(result.curve, [25.0, 20.0, 100 * 1000 / 6000])


def test_zero_pv_curtails_nothing(tmp_path):
    run = write_run(tmp_path / "c.hdf5", {"PV-0.PV_0": ("PV", {"P_avail": [0, 0], "P": [0, 0]})})
    result = compute(run, "curtailed_share_percent")
    assert result.value == 0.0
    assert "no energy available" in result.note


# --- Self-sufficiency and cost ------------------------------------------------

def test_self_sufficiency_from_imports_and_consumption(tmp_path):
    run = write_run(tmp_path / "s.hdf5", {
        "Grid-0.0-tr_pri": bus("RefBus", [20e3] * 4, 20e3, p=[1000, 0, -500, 500]),
        "Households-0.House_0": ("House", {"P_out": [1000] * 4}),
    })
    result = compute(run, "self_sufficiency_percent")
    assert result.value == pytest.approx(100 * (1 - 1500 / 4000))
    np.testing.assert_allclose(result.curve, [0.0, 50.0, 100 * (1 - 1000 / 3000), 62.5])


def test_self_sufficiency_without_consumption_is_nan(tmp_path):
    run = write_run(tmp_path / "s.hdf5", {
        "Grid-0.0-tr_pri": bus("RefBus", [20e3], 20e3, p=[0]),
        "Households-0.House_0": ("House", {"P_out": [0]}),
    })
    result = compute(run, "self_sufficiency_percent")
    assert math.isnan(result.value)
    assert "consumed nothing" in result.note


@pytest.fixture
def priced(tmp_path):
    return {
        "Grid-0.0-tr_pri": bus("RefBus", [20e3] * 3, 20e3, p=[1000, -1000, 2000]),
        "Market-0.Price_0": ("Price", {"price": [0.3, 0.1, 0.2]}),
    }


def test_cost_of_drawn_energy_less_feed_in(tmp_path, priced):
    run = write_run(tmp_path / "p.hdf5", priced, step_seconds=3600)
    assert compute(run, "cost_eur").value == pytest.approx(0.3 + 2 * 0.2)
    paid = compute(run, "cost_eur", feed_in_eur_per_kwh=0.08)
    assert (paid.value, paid.unit) == (pytest.approx(0.7 - 0.08), "EUR")
    np.testing.assert_allclose(paid.curve, [0.3, 0.22, 0.62])


def test_cost_needs_exactly_one_price(tmp_path, priced):
    del priced["Market-0.Price_0"]
    assert "no entities of type Price" in compute(
        write_run(tmp_path / "none.hdf5", priced), "cost_eur").note
    priced |= {f"Market-0.Price_{i}": ("Price", {"price": [0.1] * 3}) for i in range(2)}
    two = compute(write_run(tmp_path / "two.hdf5", priced), "cost_eur")
    assert math.isnan(two.value)
    assert "narrow price_match" in two.note


# --- Generic ------------------------------------------------------------------

def test_min_max_and_last_value_of_any_attribute(tmp_path):
    run = write_run(tmp_path / "g.hdf5", {
        "Battery-0.Battery_0": ("Battery", {"soc": [0.5, 0.9, 0.2, NAN]}),
        "Battery-0.Battery_1": ("Battery", {"soc": [0.4, 0.6, 0.8, NAN]}),
    }, steps_recorded=3)
    assert compute(run, "max_value", attr="soc").value == 0.9
    assert compute(run, "min_value", attr="soc", match="*_0").value == 0.2
    last = compute(run, "last_value", attr="soc", combine="mean")
    assert last.value == pytest.approx(0.5)
    assert "step 2" in last.note and "1 of 4 steps have no values" in last.note


# --- Missing steps, one step, types -----------------------------------------------

def test_steps_after_the_crash_are_left_out_even_if_zeros_were_written(tmp_path):
    run = write_run(tmp_path / "crash.hdf5", {
        "Grid-0.0-node_a1": bus("PQBus", [424, 424, 0, 0]),
        "Grid-0.0-tr_pri": bus("RefBus", [20e3] * 4, 20e3, p=[1000, 1000, 0, 0]),
    }, steps_recorded=2, step_seconds=3600)
    assert run.steps_computed == 2 and run.steps == 4
    violation = compute(run, "voltage_violation_minutes")
    assert violation.value == 120.0  # the zero volts after the crash are no violation
    assert violation.note.startswith("2 of 4 steps have no values (the run computed 2)")
    energy = compute(run, "energy_kwh")
    assert energy.value == pytest.approx(2.0)
    np.testing.assert_array_equal(energy.curve, [1, 2, NAN, NAN])


@pytest.mark.parametrize("name", sorted(KPIS))
def test_every_kpi_of_a_run_that_computed_nothing_is_nan_with_a_reason(tmp_path, name):
    run = write_run(tmp_path / "nan.hdf5", full_run(3), steps_recorded=0)
    result = compute(run, name, **REQUIRED.get(name, {}))
    assert math.isnan(result.value)
    assert result.note == "no step has values (3 steps, the run computed 0)"
    assert result.unit == KPIS[name].unit


@pytest.mark.parametrize("name", sorted(KPIS))
def test_every_kpi_works_on_a_single_step(tmp_path, name):
    result = compute(write_run(tmp_path / "one.hdf5", full_run(1)), name,
                     **REQUIRED.get(name, {}))
    assert math.isfinite(result.value), result.note
    assert result.curve.shape == (1,)


def test_types_are_inferred_from_ids_when_the_file_has_none(tmp_path):
    run = write_run(tmp_path / "untyped.hdf5", full_run(1), typed=False)
    assert run.types == {
        "Grid-0.0-tr_pri": "RefBus", "Grid-0.0-node_a1": "PQBus",
        "Grid-0.0-transformer": "Transformer", "Households-0.House_0": "House",
        "PV-0.PV_0": "PV", "Market-0.Price_0": "Price", "Battery-0.Battery_0": "Battery",
    }


def storage(tmp_path, p_w, e_kwh):
    """A battery over hourly steps: its power and the energy it holds at each step."""
    return write_run(tmp_path / "s.hdf5", {
        "Battery-0.Battery_0": ("Battery", {"P": p_w, "E_kwh": e_kwh}),
        "Grid-0.0-node_a1": bus("PQBus", [400.0] * len(p_w), p=[0.0] * len(p_w))},
        step_seconds=3600)


def test_storage_that_gives_back_less_than_it_took_creates_nothing(tmp_path):
    # holds 1 kWh, takes in 2 kWh, gives out 2.5 kWh: 2.5 <= 0.9 * 2 + 1
    run = storage(tmp_path, [2000, -1500, -1000], [1.0, 2.9, 1.3])
    created = compute(run, "storage_energy_created_kwh", efficiency=0.9)
    assert (created.value, created.unit) == (0.0, "kWh")
    np.testing.assert_allclose(created.curve, [-2.8, -1.3, -0.3])
    assert created.note == ("1 entities held 1.000 kWh at the start, took in 2.000 kWh, "
                            "gave out 2.500 kWh")


def test_storage_that_gives_back_more_than_it_could_creates_energy(tmp_path):
    run = storage(tmp_path, [-1000, 1000, -1500], [0.5, 0.0, 0.9])
    created = compute(run, "storage_energy_created_kwh", efficiency=0.81)
    assert created.value == pytest.approx(2.5 - 0.81 - 0.5)
    with pytest.raises(ValueError, match=r"efficiency must be in \(0, 1\], not 1.2"):
        compute(run, "storage_energy_created_kwh", efficiency=1.2)


# --- Errors and registry ------------------------------------------------------------

def test_unknown_kpi_lists_the_known_ones(voltages):
    with pytest.raises(ValueError, match="unknown KPI 'voltage_minutes'; known KPIs: "
                                         "cost_eur, curtailed_share_percent, energy_kwh"):
        compute(voltages, "voltage_minutes")


def test_unknown_or_missing_parameter_lists_the_valid_ones(voltages):
    with pytest.raises(ValueError, match="'max_voltage_pu' has no parameter high; "
                                         "its parameters: types, match$"):
        compute(voltages, "max_voltage_pu", high=1.05)
    with pytest.raises(ValueError, match="'last_value' needs parameter attr; "
                                         "its parameters: attr, types, match, combine"):
        compute(voltages, "last_value")


def test_bad_parameter_values_are_errors_not_nan(voltages):
    with pytest.raises(ValueError, match="sign must be one of consumed, fed-in, net, not 'in'"):
        compute(voltages, "energy_kwh", sign="in")
    with pytest.raises(ValueError, match=r"low \(1.1\) must be below high \(1.05\)"):
        compute(voltages, "voltage_violation_minutes", low=1.1)


def test_every_kpi_is_described_with_a_unit():
    assert {"voltage_violation_minutes", "max_voltage_pu", "min_voltage_pu", "energy_kwh",
            "peak_kw", "max_loading_percent", "curtailed_share_percent",
            "self_sufficiency_percent", "cost_eur", "min_value", "max_value",
            "last_value", "peak_kw_between", "storage_energy_created_kwh"} <= set(KPIS)
    for kpi in KPIS.values():
        assert kpi.description.endswith(".") and kpi.unit, kpi.name


# --- A real run ---------------------------------------------------------------------

def test_kpis_of_the_demo_agree_with_its_recorded_data(local_run):
    path = local_run / "demo.hdf5"
    run = RunData.load(path)
    assert run.steps == run.steps_computed == 24 * 60
    with h5py.File(path) as db:
        vm = np.vstack([g["Vm"][()] / g["Vl"][()] for g in db["Series"].values()
                        if g.attrs["type"] == "PQBus"])
        trafo = db["Series/Grid-0.0-transformer"]
        loading = np.hypot(trafo["P_from"][()], trafo["Q_from"][()]) / 250e3 * 100
    assert compute(run, "max_voltage_pu").value == pytest.approx(vm.max())
    assert compute(run, "min_voltage_pu").value == pytest.approx(vm.min())
    assert compute(run, "voltage_violation_minutes").value == np.any(
        (vm > 1.05) | (vm < 0.95), axis=0).sum()
    assert compute(run, "max_loading_percent", rating_kva=250).value == pytest.approx(
        loading.max())
    # Energy balance: the slack bus supplies the houses' draw minus PV, plus small losses
    houses = compute(run, "energy_kwh", types="House").value
    pv = compute(run, "energy_kwh", types="PV").value
    slack = compute(run, "energy_kwh").value
    assert houses > 0 > pv
    assert 0 <= slack - (houses + pv) <= 0.05 * (houses - pv)
    sufficiency = compute(run, "self_sufficiency_percent").value
    imported = compute(run, "energy_kwh", sign="consumed").value
    assert sufficiency == pytest.approx(100 * (1 - imported / houses))
    assert 0 < sufficiency < 100
    assert "no entities of type Price" in compute(run, "cost_eur").note


def test_types_read_are_the_kpis_selections_with_their_defaults():
    # what the page needs of a live run to follow an exercise's objectives
    assert types_read("voltage_violation_minutes", {}) == {"PQBus"}
    assert types_read("cost_eur", {"types": ["EV"]}) == {"EV", "Price"}
    assert types_read("self_sufficiency_percent", {"types": "Branch"}) == {"Branch", "House"}
    assert types_read("max_value", {"attr": "E_kwh"}) is None  # any type
