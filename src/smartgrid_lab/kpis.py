"""Named KPIs of a run, computed from its HDF5 file, for objective grading.

An exercise states its goal as KPI thresholds ("minutes with any node above
1.05 p.u. <= 0", "curtailed PV energy <= 10 %"); a grader computes them with

    run = RunData.load("results/<run-id>/demo.hdf5")
    compute(run, "voltage_violation_minutes", high=1.05).value

Every KPI returns a :class:`KPIValue`: the number, its unit, a per-step curve
to plot against the threshold and a note saying what was counted or why the
value is NaN. A KPI never raises for a run that lacks data (a student who
forgot to record something gets NaN and a reason); it raises ValueError only
for a KPI name or parameter the caller got wrong.

Units, as mosaik-pypower 0.9 and the lab's simulators give them: power in W,
load convention (consumption positive, PV feed-in negative); branch and
transformer flows ``P_from``/``Q_from`` also in W/VAr (PYPOWER's MW times the
adapter's factor 3e6, the same scale as the loads), positive from the
"from" bus (the 20 kV side of the transformer) into the branch; the slack
bus's ``P`` (type RefBus) is what it supplies, so positive means drawn from
the upstream grid; bus voltage ``Vm`` and nominal ``Vl`` in V (p.u. =
Vm / Vl); transformer rating ``S_r`` in VA.

Only steps that have values count: steps after the run stopped
(``steps_recorded``) and steps with NaN (e.g. a power flow that did not
converge) are left out, and the note says how many there were. A step counts
if every selected entity has a value in it.
"""

import fnmatch
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

POWER_ATTRS = ("P", "P_out")  # an entity's power: P, or P_out for households
SIGNS = ("consumed", "fed-in", "net")
COMBINE = {"sum": np.sum, "mean": np.mean, "min": np.min, "max": np.max}
J_PER_KWH = 3.6e6


@dataclass
class RunData:
    """The recorded series of one run: ``series[entity][attr]`` per step."""

    series: dict[str, dict[str, np.ndarray]]
    types: dict[str, str]
    step_seconds: int = 60
    steps_computed: int = 0

    @classmethod
    def load(cls, path: str | Path, step_seconds: int = 60) -> "RunData":
        """Read every numeric 1-D dataset under ``Series``; steps the run never
        computed read NaN even if the writer left zeros there."""
        with h5py.File(path, "r") as db:
            series = {
                entity: {attr: ds[()].astype(float) for attr, ds in group.items()
                         if ds.ndim == 1 and np.issubdtype(ds.dtype, np.number)}
                for entity, group in db["Series"].items()
            }
            types = {entity: str(group.attrs.get("type", "")) or infer_type(entity)
                     for entity, group in db["Series"].items()}
            length = max((len(v) for attrs in series.values() for v in attrs.values()),
                         default=0)
            computed = int(db.attrs.get("steps_recorded", length))
        for attrs in series.values():
            for values in attrs.values():
                values[computed:] = np.nan
        return cls(series, types, step_seconds, computed)

    @property
    def steps(self) -> int:
        """Steps the run was meant to have: the datasets' length."""
        return max((len(v) for attrs in self.series.values() for v in attrs.values()),
                   default=0)

    def select(self, types: str | Iterable[str] | None = None,
               attr: str | Iterable[str] = POWER_ATTRS,
               match: str | None = None) -> dict[str, np.ndarray]:
        """``{entity: values}`` of the entities of one of ``types`` (None: any)
        whose full id matches the glob ``match`` (e.g. ``"*node_a*"``,
        ``"*.House_1"``), taking the first of ``attr`` each one records."""
        types = (types,) if isinstance(types, str) else types
        attrs = (attr,) if isinstance(attr, str) else tuple(attr)
        selected = {}
        for entity, recorded in sorted(self.series.items()):
            if types is not None and self.types[entity] not in types:
                continue
            if match is not None and not fnmatch.fnmatchcase(entity, match):
                continue
            found = next((a for a in attrs if a in recorded), None)
            if found is not None:
                selected[entity] = recorded[found]
        return selected


def infer_type(entity: str) -> str:
    """An entity's mosaik type guessed from its id, for files written without
    ``type`` attributes: the lab's grid names its buses, branches and
    transformer (``Grid-0.0-node_a1``), other models number their entities
    (``Households-0.House_12`` -> House)."""
    name = entity.split(".", 1)[-1]
    name = re.sub(r"^\d+-", "", name)  # mosaik-pypower's grid index
    for pattern, etype in ((r"tr_pri$", "RefBus"), (r"^(node|tr_sec|bus)", "PQBus"),
                           (r"^(transformer|trafo)", "Transformer"), (r"^branch", "Branch")):
        if re.search(pattern, name):
            return etype
    return re.sub(r"_\d+$", "", name)


@dataclass
class KPIValue:
    """A KPI's value (NaN if it cannot be computed) and how it came about."""

    value: float
    unit: str
    curve: np.ndarray | None = None  # per step; NaN where the step has no values
    note: str = ""


class NotComputable(Exception):
    """The run lacks what a KPI needs; the message says what."""


@dataclass
class KPI:
    """A named KPI; ``description`` is the first line of its function's
    docstring, the rest of which defines it precisely."""

    name: str
    description: str
    unit: str
    func: Callable[..., KPIValue]

    @property
    def params(self) -> dict[str, object]:
        """Parameter names and defaults (``inspect.Parameter.empty``: required)."""
        return {p.name: p.default for p in
                list(inspect.signature(self.func).parameters.values())[1:]}

    def __call__(self, run: RunData, **params) -> KPIValue:
        unknown = sorted(set(params) - set(self.params))
        missing = [p for p, default in self.params.items()
                   if default is inspect.Parameter.empty and p not in params]
        if unknown or missing:
            problem = (f"has no parameter {', '.join(unknown)}" if unknown
                       else f"needs parameter {', '.join(missing)}")
            raise ValueError(f"KPI {self.name!r} {problem}; its parameters: "
                             f"{', '.join(self.params) or 'none'}")
        try:
            return self.func(run, **params)
        except NotComputable as why:
            return KPIValue(float("nan"), self.unit, None, str(why))


KPIS: dict[str, KPI] = {}


def kpi(unit: str):
    """Register the decorated function as a KPI under its own name."""
    def register(func):
        description = inspect.getdoc(func).splitlines()[0]
        KPIS[func.__name__] = KPI(func.__name__, description, unit, func)
        return func
    return register


def compute(run: RunData, name: str, **params) -> KPIValue:
    """The KPI ``name`` of ``run``; ValueError for an unknown name or parameter."""
    if name not in KPIS:
        raise ValueError(f"unknown KPI {name!r}; known KPIs: {', '.join(sorted(KPIS))}")
    return KPIS[name](run, **params)


def types_read(name: str, params: dict) -> set[str] | None:
    """The entity types KPI ``name`` reads with ``params``; None: any type."""
    types = set()
    for key, value in {**KPIS[name].params, **params}.items():
        if key == "types" or key.endswith("_types"):
            if value is None:
                return None
            types.update((value,) if isinstance(value, str) else value)
    return types


# --- Shared steps of the KPIs ------------------------------------------------

def _matrix(run: RunData, types, attr, match, what: str) -> tuple[list[str], np.ndarray]:
    """Entity ids and their values as rows of a matrix (entities x steps)."""
    selected = run.select(types, attr, match)
    if not selected:
        raise NotComputable(f"no {what}: no entity of type {_types(types)}"
                            f"{f' matching {match!r}' if match else ''} records {_attrs(attr)}")
    return list(selected), np.vstack(list(selected.values()))


def _valid_steps(run: RunData, *rows: np.ndarray) -> tuple[np.ndarray, str]:
    """Steps where every given row has a value, and a note on those that do not."""
    valid = np.all(np.isfinite(np.vstack(rows)), axis=0)
    missing = valid.size - int(valid.sum())
    note = (f"{missing} of {valid.size} steps have no values "
            f"(the run computed {run.steps_computed}) and are left out; " if missing else "")
    if not valid.any():
        raise NotComputable(f"no step has values ({valid.size} steps, "
                            f"the run computed {run.steps_computed})")
    return valid, note


def _when(run: RunData, step: int) -> str:
    seconds = step * run.step_seconds
    return f"step {step} ({seconds // 3600:02d}:{seconds % 3600 // 60:02d} into the run)"


def _check(name: str, value, allowed) -> None:
    """A parameter's value is one of ``allowed``, or the caller hears which are."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def _signed(power: np.ndarray, sign: str) -> np.ndarray:
    """Power counted for ``sign``: consumed (>= 0), fed-in (>= 0) or net."""
    return {"consumed": np.maximum(power, 0), "fed-in": np.maximum(-power, 0),
            "net": power}[sign]


def _cumulative(per_step: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Running total over the valid steps; NaN at the others."""
    return np.where(valid, np.cumsum(np.where(valid, per_step, 0)), np.nan)


def _extreme(run, names, matrix, valid, note, highest, unit, what) -> KPIValue:
    """Highest (or lowest) value over entities and valid steps; the curve is
    the per-step highest (lowest) over the entities."""
    reduce, pick = (np.max, np.nanargmax) if highest else (np.min, np.nanargmin)
    curve = np.where(valid, reduce(np.where(valid, matrix, 0), axis=0), np.nan)
    step = int(pick(curve))
    entity = names[int(pick(matrix[:, step]))]
    return KPIValue(float(curve[step]), unit, curve,
                    f"{note}{what} at {entity}, {_when(run, step)}, of {len(names)} entities")


def _value_extreme(run, attr, types, match, highest, what) -> KPIValue:
    names, matrix = _matrix(run, types, attr, match, attr)
    valid, note = _valid_steps(run, matrix)
    return _extreme(run, names, matrix, valid, note, highest, "as recorded", what)


def _peak(run, types, match, attr, sign, hours=None) -> KPIValue:
    """Highest power of the selected entities, summed per step, in kW, over
    the steps between ``hours`` (start included, end excluded; None: all)."""
    _check("sign", sign, SIGNS)
    power = _exchange(run, types, match, attr, "power")
    valid, note = _valid_steps(run, power)
    within = ""
    if hours is not None:
        since_start = np.arange(power.size) * run.step_seconds / 3600
        valid &= (since_start >= hours[0]) & (since_start < hours[1])
        within = f" between hours {hours[0]:g} and {hours[1]:g}"
        if not valid.any():
            raise NotComputable(f"{note}no step{within} has values")
    signed = np.abs(power) if sign == "net" else _signed(power, sign)
    curve = np.where(valid, signed / 1e3, np.nan)
    step = int(np.nanargmax(curve))
    return KPIValue(float(curve[step]), "kW", curve,
                    f"{note}peak {sign} power of type {_types(types)}{within} "
                    f"at {_when(run, step)}")


def _types(types) -> str:
    return "any" if types is None else "/".join((types,) if isinstance(types, str) else types)


def _attrs(attr) -> str:
    return attr if isinstance(attr, str) else " or ".join(attr)


def _companion(run: RunData, names: list[str], attr: str, why: str) -> np.ndarray:
    """A second attribute of the selected entities, which all must record."""
    without = [n for n in names if attr not in run.series[n]]
    if without:
        raise NotComputable(f"{attr} not recorded for {', '.join(without)}; {why} needs it")
    return np.vstack([run.series[n][attr] for n in names])


def _per_unit(run: RunData, types, match) -> tuple[list[str], np.ndarray, np.ndarray, str]:
    names, vm = _matrix(run, types, "Vm", match, "bus voltages")
    vl = _companion(run, names, "Vl", "p.u. = Vm / Vl")
    valid, note = _valid_steps(run, vm, vl)
    return names, vm / vl, valid, note


def _exchange(run, types, match, attr, what) -> np.ndarray:
    """Power of the selected entities summed per step, as one meter sees it."""
    return _matrix(run, types, attr, match, what)[1].sum(axis=0)


# --- The KPIs ----------------------------------------------------------------

@kpi("min")
def voltage_violation_minutes(run: RunData, *, types=("PQBus",), match=None,
                              low=0.95, high=1.05) -> KPIValue:
    """Minutes in which any selected bus voltage is outside [low, high] p.u.

    A step counts if at least one bus has Vm / Vl < low or > high; the curve
    is the running total of violation minutes.
    """
    if not low < high:
        raise ValueError(f"low ({low}) must be below high ({high})")
    names, pu, valid, note = _per_unit(run, types, match)
    above = valid & np.any(pu > high, axis=0)
    below = valid & np.any(pu < low, axis=0)
    minutes = (above | below) * run.step_seconds / 60
    curve = _cumulative(minutes, valid)
    return KPIValue(float(minutes.sum()), "min", curve,
                    f"{note}{len(names)} buses; {int(above.sum())} steps above {high} p.u., "
                    f"{int(below.sum())} below {low} p.u.")


@kpi("p.u.")
def max_voltage_pu(run: RunData, *, types=("PQBus",), match=None) -> KPIValue:
    """Highest bus voltage Vm / Vl over the selected buses and all steps."""
    names, pu, valid, note = _per_unit(run, types, match)
    return _extreme(run, names, pu, valid, note, True, "p.u.", "highest")


@kpi("p.u.")
def min_voltage_pu(run: RunData, *, types=("PQBus",), match=None) -> KPIValue:
    """Lowest bus voltage Vm / Vl over the selected buses and all steps."""
    names, pu, valid, note = _per_unit(run, types, match)
    return _extreme(run, names, pu, valid, note, False, "p.u.", "lowest")


@kpi("kWh")
def energy_kwh(run: RunData, *, types=("RefBus",), match=None, attr=POWER_ATTRS,
               sign="net") -> KPIValue:
    """Energy of the selected entities: consumed, fed-in (as a positive number) or net.

    The entities' power is summed per step (as one meter behind them would
    see it), then counted by ``sign``: consumed = positive part, fed-in =
    negative part, net = both; times the step length. The default, the slack
    bus, gives the energy drawn from the upstream grid. The curve is the
    running total.
    """
    _check("sign", sign, SIGNS)
    power = _exchange(run, types, match, attr, "power")
    valid, note = _valid_steps(run, power)
    curve = _cumulative(_signed(power, sign) * run.step_seconds / J_PER_KWH, valid)
    return KPIValue(float(curve[valid][-1]), "kWh", curve,
                    f"{note}{sign} energy of type {_types(types)}")


@kpi("kW")
def peak_kw(run: RunData, *, types=("RefBus",), match=None, attr=POWER_ATTRS,
            sign="consumed") -> KPIValue:
    """Highest power of the selected entities, summed per step, in kW.

    consumed = highest draw, fed-in = highest feed-in (positive), net =
    highest absolute value. The curve is that power per step.
    """
    return _peak(run, types, match, attr, sign)


@kpi("kW")
def peak_kw_between(run: RunData, *, start_hour, end_hour, types=("RefBus",), match=None,
                    attr=POWER_ATTRS, sign="consumed") -> KPIValue:
    """Highest power of the selected entities, summed per step, in kW, within hours of the run.

    As ``peak_kw``, over the steps from ``start_hour`` (included) to
    ``end_hour`` (excluded) after the run's start, e.g. 18 and 22 for the
    evening peak of a run that starts at midnight. The curve is the power
    per step in that window, NaN outside it.
    """
    if not 0 <= start_hour < end_hour:
        raise ValueError(f"start_hour ({start_hour}) must be at least 0 and below "
                         f"end_hour ({end_hour})")
    return _peak(run, types, match, attr, sign, hours=(start_hour, end_hour))


@kpi("%")
def max_loading_percent(run: RunData, *, types=("Transformer",), match=None,
                        rating_kva=None) -> KPIValue:
    """Highest loading, sqrt(P_from² + Q_from²) / rating, of the selected branches.

    The rating is ``rating_kva`` if given, else each entity's recorded
    ``S_r`` (VA, mosaik-pypower's transformer rating). The curve is the
    per-step loading of the most loaded entity.
    """
    names, p = _matrix(run, types, "P_from", match, "flows")
    q = _companion(run, names, "Q_from", "the apparent power")
    if rating_kva is not None:
        rating = np.full((len(names), 1), rating_kva * 1e3)
    else:
        recorded = [run.series[n].get("S_r", np.array([np.nan])) for n in names]
        rating = np.array([[np.nanmax(r) if np.isfinite(r).any() else np.nan]
                           for r in recorded])
        if not np.isfinite(rating).all():
            raise NotComputable("no rating: pass rating_kva or record S_r")
    valid, note = _valid_steps(run, p, q)
    loading = np.hypot(p, q) / rating * 100
    return _extreme(run, names, loading, valid, note, True, "%", "highest loading")


@kpi("%")
def curtailed_share_percent(run: RunData, *, types=None, match=None) -> KPIValue:
    """Curtailed energy as a share of available energy, over entities with P and P_avail.

    Per entity and step, curtailed = max(|P_avail| - |P|, 0), available =
    |P_avail| (both load convention, so feed-in is negative); the share is
    the sum of curtailed over the sum of available energy. Nothing
    available gives 0 %. The curve is the running share.
    """
    names, available = _matrix(run, types, "P_avail", match, "available power")
    actual = _companion(run, names, "P", "the curtailed power")
    valid, note = _valid_steps(run, available, actual)
    curtailed = np.maximum(np.abs(available) - np.abs(actual), 0).sum(axis=0)
    total_available = _cumulative(np.abs(available).sum(axis=0), valid)
    total_curtailed = _cumulative(curtailed, valid)
    curve = np.divide(total_curtailed * 100, total_available,
                      out=np.where(valid, 0.0, np.nan), where=total_available > 0)
    kwh = run.step_seconds / J_PER_KWH
    available_kwh = np.nanmax(total_available) * kwh
    curtailed_kwh = np.nanmax(total_curtailed) * kwh
    if available_kwh == 0:
        return KPIValue(0.0, "%", curve, f"{note}no energy available ({len(names)} entities)")
    return KPIValue(float(curve[valid][-1]), "%", curve,
                    f"{note}{len(names)} entities; {available_kwh:.3f} kWh available, "
                    f"{curtailed_kwh:.3f} kWh curtailed")


@kpi("%")
def self_sufficiency_percent(run: RunData, *, types=("RefBus",), match=None, attr="P",
                             consumer_types=("House",), consumer_match=None,
                             consumer_attr=POWER_ATTRS) -> KPIValue:
    """Share of the consumers' energy not drawn from the grid through the connection point.

    100 * (1 - imported / consumed), at least 0, where imported = energy
    drawn through the connection point (the selected ``types``/``match``
    entities' ``attr``, positive = drawn; default the slack bus, i.e. the
    whole LV grid), consumed = the consumers' energy (positive part of
    their summed power). Whatever local PV or storage supplies counts as
    covered; feed-in earns nothing; grid losses count as imported, so the
    share is slightly low. The curve is the running share.
    """
    imported = np.maximum(_exchange(run, types, match, attr, "connection point"), 0)
    consumed = np.maximum(_exchange(run, consumer_types, consumer_match, consumer_attr,
                                    "consumers"), 0)
    valid, note = _valid_steps(run, imported, consumed)
    total_imported, total_consumed = _cumulative(imported, valid), _cumulative(consumed, valid)
    if np.nanmax(total_consumed) == 0:
        raise NotComputable(f"{note}the consumers consumed nothing")
    share = np.divide(total_imported, total_consumed, out=np.full_like(total_consumed, np.nan),
                      where=total_consumed > 0)
    curve = np.maximum(100 * (1 - share), 0)
    kwh = run.step_seconds / J_PER_KWH
    return KPIValue(float(curve[valid][-1]), "%", curve,
                    f"{note}{np.nanmax(total_consumed) * kwh:.3f} kWh consumed, "
                    f"{np.nanmax(total_imported) * kwh:.3f} kWh imported")


@kpi("kWh")
def storage_energy_created_kwh(run: RunData, *, efficiency, types=("Battery",),
                               match=None) -> KPIValue:
    """Energy the selected storage gave out beyond what it took in and held at the start.

    Per step, in = the positive part of the storages' summed power ``P``
    (charging), out = its negative part (discharging); held = their summed
    ``E_kwh`` at the first step with values. Storage that creates no energy
    keeps out <= efficiency * in + held at every step (``efficiency`` is the
    round trip's); the value is how far the running totals ever exceed
    that, 0 for sound storage. The curve is out - efficiency * in - held.
    """
    if not 0 < efficiency <= 1:
        raise ValueError(f"efficiency must be in (0, 1], not {efficiency}")
    power = _exchange(run, types, match, "P", "storage power")
    names, stored = _matrix(run, types, "E_kwh", match, "stored energy")
    valid, note = _valid_steps(run, power, stored)
    kwh = power * run.step_seconds / J_PER_KWH
    held = float(stored[:, np.flatnonzero(valid)[0]].sum())
    curve = (_cumulative(np.maximum(-kwh, 0), valid)
             - efficiency * _cumulative(np.maximum(kwh, 0), valid) - held)
    return KPIValue(max(float(np.nanmax(curve)), 0.0), "kWh", curve,
                    f"{note}{len(names)} entities held {held:.3f} kWh at the start, took in "
                    f"{np.maximum(kwh, 0)[valid].sum():.3f} kWh, gave out "
                    f"{np.maximum(-kwh, 0)[valid].sum():.3f} kWh")


@kpi("EUR")
def cost_eur(run: RunData, *, types=("RefBus",), match=None, attr="P", price_types=("Price",),
             price_match=None, price_attr="price", feed_in_eur_per_kwh=0.0) -> KPIValue:
    """Cost of the energy drawn through the connection point, less feed-in pay.

    Per step: drawn kWh (positive part of the connection point's ``attr``)
    times the price (the one entity of ``price_types``, attribute
    ``price_attr``, EUR/kWh), minus fed-in kWh times ``feed_in_eur_per_kwh``.
    The curve is the running cost.
    """
    power = _exchange(run, types, match, attr, "connection point")
    prices = run.select(price_types, price_attr, price_match)
    if len(prices) != 1:
        raise NotComputable(f"{len(prices) or 'no'} entities of type {_types(price_types)} "
                            f"record {price_attr}; the price needs exactly one"
                            f"{' (narrow price_match)' if prices else ''}")
    (price_entity, price), = prices.items()
    valid, note = _valid_steps(run, power, price)
    kwh = power * run.step_seconds / J_PER_KWH
    cost = np.maximum(kwh, 0) * price - np.maximum(-kwh, 0) * feed_in_eur_per_kwh
    curve = _cumulative(cost, valid)
    return KPIValue(float(curve[valid][-1]), "EUR", curve,
                    f"{note}{np.maximum(kwh, 0)[valid].sum():.3f} kWh drawn at {price_entity}'s "
                    f"price, {np.maximum(-kwh, 0)[valid].sum():.3f} kWh fed in")


@kpi("as recorded")
def min_value(run: RunData, *, attr, types=None, match=None) -> KPIValue:
    """Lowest value of ``attr`` over the selected entities and all steps."""
    return _value_extreme(run, attr, types, match, False, "lowest")


@kpi("as recorded")
def max_value(run: RunData, *, attr, types=None, match=None) -> KPIValue:
    """Highest value of ``attr`` over the selected entities and all steps."""
    return _value_extreme(run, attr, types, match, True, "highest")


@kpi("as recorded")
def last_value(run: RunData, *, attr, types=None, match=None, combine="sum") -> KPIValue:
    """Value of ``attr`` at the last step with values, combined over the selected entities.

    ``combine`` (sum, mean, min, max) reduces the entities per step, e.g.
    mean for the state of charge of several batteries; the curve is that
    combined value per step.
    """
    _check("combine", combine, COMBINE)
    names, matrix = _matrix(run, types, attr, match, attr)
    valid, note = _valid_steps(run, matrix)
    curve = np.where(valid, COMBINE[combine](np.where(valid, matrix, 0), axis=0), np.nan)
    step = int(np.flatnonzero(valid)[-1])
    return KPIValue(float(curve[step]), "as recorded", curve,
                    f"{note}{combine} over {len(names)} entities at {_when(run, step)}")
