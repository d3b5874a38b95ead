"""Physical rules a run must obey whatever the reference: voltage band, line loading,
energy balance."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from smartgrid_lab.grading.common import Problem, Unusable
from smartgrid_lab.grading.load import Clock
from smartgrid_lab.grading.spec import Spec
from smartgrid_lab.results import entities_of, power_balance


@dataclasses.dataclass
class RuleResult:
    """The outcome of one physical rule: problems, and how many of its items pass."""

    problems: list[Problem] = dataclasses.field(default_factory=list)
    passed: int = 0
    total: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def share(self) -> float:
        return self.passed / self.total if self.total else 1.0


def buses(series: dict) -> dict[str, dict[str, np.ndarray]]:
    """The entities that are buses: they record a voltage and its nominal value."""
    return {e: a for e, a in series.items() if "Vm" in a and "Vl" in a}


def per_unit(series: dict) -> dict[str, np.ndarray]:
    return {e: a["Vm"] / a["Vl"] for e, a in buses(series).items() if np.all(a["Vl"] > 0)}


def check_voltage(clean: dict, ref: dict, spec: Spec, clock: Clock) -> RuleResult:
    """Every reference bus must stay in the band; a bus without usable data fails."""
    low, high = spec.band
    result = RuleResult(total=len(buses(ref)))
    for entity, pu in sorted(per_unit(clean).items()):
        if pu.min() >= low and pu.max() <= high:
            result.passed += 1
            continue
        worst = int(np.argmax(np.maximum(low - pu, pu - high)))
        result.problems.append(Problem(
            f"Series/{entity}/Vm",
            f"voltage {pu.min():.4f}–{pu.max():.4f} p.u. leaves the band {low}–{high} p.u. "
            f"(worst {pu[worst]:.4f} p.u. at {clock.label(worst)})"))
    return result


@dataclasses.dataclass
class Element:
    """A branch or transformer of the grid file, with its rating."""

    id: str
    kind: str  # "branch" or "trafo"
    ends: tuple[str, str]  # bus ids, from and to
    rating: float  # A for branches, VA for transformers


def grid_elements(grid_file: Path) -> tuple[list[Element], dict[str, float]]:
    """Branches and transformers with ratings, and nominal bus voltages in V."""
    try:
        grid = json.loads(grid_file.read_text())
        nominal = {bus[0]: float(bus[2]) * 1000 for bus in grid["bus"]}
        elements = [Element(b[0], "branch", (b[1], b[2]), float(grid["branch_types"][b[3]][3]))
                    for b in grid.get("branch", [])]
        elements += [Element(t[0], "trafo", (t[1], t[2]),
                             float(grid["trafo_types"][t[3]][0]) * 1e6)
                     for t in grid.get("trafo", [])]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        raise Unusable(f"grid file {grid_file}: cannot read ratings from it ({error!r})") from None
    return elements, nominal


def by_element_id(series: dict) -> dict[str, str]:
    """mosaik-pypower's entity names end in the grid file's ids: ``Grid-0.0-branch_1``."""
    return {entity.rsplit("-", 1)[-1]: entity for entity in series}


def loading_of(element: Element, attrs: dict, clean: dict, ids: dict,
               nominal: dict) -> np.ndarray | None:
    """Loading over time as a fraction of the rating, or None without usable data."""
    if not all(a in attrs for a in ("P_from", "Q_from", "P_to", "Q_to")):
        return None
    apparent = [np.hypot(attrs["P_from"], attrs["Q_from"]), np.hypot(attrs["P_to"], attrs["Q_to"])]
    if element.kind == "trafo":
        rating = float(attrs["S_r"].flat[0]) if "S_r" in attrs else element.rating
        return np.maximum(*apparent) / rating
    rating = float(attrs["I_max"].flat[0]) if "I_max" in attrs else element.rating
    currents = []
    for s, bus in zip(apparent, element.ends, strict=True):
        volts = clean.get(ids.get(bus, ""), {}).get("Vm", nominal.get(bus, np.nan))
        currents.append(s / (math.sqrt(3) * volts))
    return np.maximum(*currents) / rating


def line_loading(clean: dict, ref: dict, grid_file: Path) -> tuple[dict, int]:
    """``{entity: loading over time}`` for the run, and how many elements the ref has."""
    elements, nominal = grid_elements(grid_file)
    ids = by_element_id(ref)
    graded = [e for e in elements if e.id in ids]
    loading = {}
    for element in graded:
        entity = ids[element.id]
        values = loading_of(element, clean.get(entity, {}), clean, ids, nominal)
        if values is not None:
            loading[entity] = values
    return loading, len(graded)


def check_loading(loading: dict, graded: int, spec: Spec, clock: Clock) -> RuleResult:
    result = RuleResult(total=graded)
    for entity, values in sorted(loading.items()):
        peak = int(np.argmax(values))
        if values[peak] <= spec.max_loading:
            result.passed += 1
            continue
        result.problems.append(Problem(
            f"Series/{entity}",
            f"loading up to {values[peak]:.1%} of its rating at {clock.label(peak)} "
            f"(limit {spec.max_loading:.0%}; "
            f"{int((values > spec.max_loading).sum())} steps over)"))
    return result


BALANCE_NEEDS = {"House_": ("P_out",), "PV_": ("P",)}


def balance_inputs_missing(clean: dict, ref: dict) -> list[str]:
    """The reference datasets power_balance needs that the run cannot supply."""
    needed = [(e, a) for e in buses(ref) for a in ("P", "Vl")]
    for kind, attrs in BALANCE_NEEDS.items():
        needed += [(e, a) for e in entities_of(ref, kind) for a in attrs]
    return [f"Series/{e}/{a}" for e, a in needed if a not in clean.get(e, {})]


def check_energy(clean: dict, ref: dict, spec: Spec, clock: Clock) -> tuple[RuleResult, dict]:
    """Two balance rules on the run, and its day energies against the reference's."""
    result = RuleResult(total=5)
    missing = balance_inputs_missing(clean, ref)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        result.notes.append(f"energy balance not checked: it needs {missing[0]}{more}, "
                            "which the run lacks or cannot use")
        return result, {}
    run_balance = power_balance({e: clean[e] for e in clean})
    ref_balance = power_balance(ref)
    losses = run_balance["losses"]
    worst = int(np.argmin(losses))
    if losses[worst] >= -spec.max_negative_loss:
        result.passed += 1
    else:
        result.problems.append(Problem("power balance", (
            f"at {clock.label(worst)} the slack bus supplies {-losses[worst]:.1f} W less than "
            f"household load + PV feed-in (losses must be ≥ −{spec.max_negative_loss:g} W)")))
    loss_kwh, through_kwh = clock.kwh(losses), clock.kwh(np.abs(run_balance["slack"]))
    share = loss_kwh / through_kwh if through_kwh else 0.0
    if share <= spec.max_loss_share:
        result.passed += 1
    else:
        result.problems.append(Problem("power balance", (
            f"losses are {loss_kwh:.2f} kWh, {share:.2%} of the {through_kwh:.1f} kWh through "
            f"the slack bus (limit {spec.max_loss_share:.2%})")))
    names = {"loads": "household load", "feed_in": "PV feed-in", "slack": "slack-bus energy"}
    for key, name in names.items():
        run_kwh, ref_kwh = clock.kwh(run_balance[key]), clock.kwh(ref_balance[key])
        if abs(run_kwh - ref_kwh) <= spec.energy_rel * abs(ref_kwh) + 1e-6:
            result.passed += 1
            continue
        off = abs(run_kwh - ref_kwh) / abs(ref_kwh) if ref_kwh else math.inf
        result.problems.append(Problem(f"energy: {name}", (
            f"{run_kwh:.3f} kWh over the day, reference {ref_kwh:.3f} kWh "
            f"({off:.2%} off, allowed {spec.energy_rel:.2%})")))
    return result, {"run": run_balance, "ref": ref_balance}

