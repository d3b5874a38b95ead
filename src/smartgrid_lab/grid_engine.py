"""What every grid engine of the lab shares: mosaik-pypower's mosaik contract.

The lab's grid engines (``PandapowerGrid``, ``PgmGrid``) are drop-ins for
mosaik-pypower 0.9's ``PyPower``: they read the same grid file (mosaik-pypower's
JSON format, e.g. ``data/grid.json``) and offer the same contract - the same
``init`` parameters, model ``Grid`` with param ``gridfile``, children with the
same ids (``<grid index>-<id from the file>``), types (``RefBus``, ``PQBus``,
``Transformer``, ``Branch``), relations (each branch and transformer is related
to its from and to bus) and attributes with the same units and signs. This
module is that contract; an engine only builds its solver's model of a
:class:`Case` and solves it (:class:`GridEngine`'s ``build`` and ``solve``).

The physical model is mosaik-pypower's, stated in three-phase terms (it solves
the per-phase equivalent: phase-to-neutral base kV, powers divided by 3, which
gives the same voltages and three-phase powers):

- REF bus: the slack, at 1.0 p.u. and 0 degrees. PQ buses: a constant-power
  load each, the sum of the bus's inputs.
- Lines: R', X' [ohm/km] times the length, a pi model whose shunt capacitance
  is 3 x C' x length (mosaik-pypower's ``power_factor``).
- Transformer: the file's R and X [ohm, referred to the "from" bus, which must
  be the high-voltage side], no magnetising branch (mosaik-pypower sets b = 0
  and ignores P_loss). A tap turn with ratio t (``taps[tap_turn]``) is an ideal
  1/t : 1 transformer at the "from" side in front of the impedance (PYPOWER's
  ``TAP = 1/t``): the secondary voltage rises by t, the impedance's per-unit
  value stays fixed.

Attributes, as mosaik-pypower reports them:

- ``P`` [W], ``Q`` [VAr] per bus: PQBus = the summed inputs, RefBus = what the
  slack supplies. With ``pos_loads=True`` loads are positive and feed-in
  negative; with ``pos_loads=False`` both ``P`` signs flip (``Q`` never flips).
- ``Vl`` [V] nominal line-to-line, ``Vm`` [V] = p.u. x Vl, ``Va`` [degrees].
- ``P_from``/``Q_from``/``P_to``/``Q_to`` [W, VAr]: power into the branch
  at each end.
- ``I_real``/``I_imag`` [A] (branches only): P and Q at the end with the higher
  voltage divided by sqrt(3) x Vm there.
- Static attributes (``S_r``, ``S_max`` = Vl x I_max, ``C_per_km`` in F/km, ...)
  exactly as mosaik-pypower derives them from the file.

Differences from mosaik-pypower: only the JSON format "without base_mva" is
read (no Excel, no old format); ``online`` works as an input for branches too
(mosaik-pypower raises), and ``tap_turn``/``online`` report the current value
rather than the initial one. When the power flow does not converge, outputs
are NaN (or ``converge_exception=True`` raises), as in mosaik-pypower.
"""

import json
import math
from dataclasses import dataclass

import mosaik_api_v3
import numpy as np
from mosaik_components.mosaik_pypower import resource_db

BUS_ATTRS = ["P", "Q", "Vl", "Vm", "Va"]
FLOW_ATTRS = ["P_from", "Q_from", "P_to", "Q_to"]
OUTPUTS = {"RefBus": ["P", "Q", "Vm", "Va"], "PQBus": ["P", "Q", "Vm", "Va"],
           "Transformer": FLOW_ATTRS, "Branch": FLOW_ATTRS + ["I_real", "I_imag"]}
SWITCHES = {"Transformer": {"tap_turn", "online"}, "Branch": {"online"}}  # inputs of branches
META = {
    "type": "time-based",
    "models": {
        "Grid": {"public": True, "params": ["gridfile", "sheetnames"], "attrs": []},
        "RefBus": {"public": False, "params": [], "attrs": BUS_ATTRS},
        "PQBus": {"public": False, "params": [], "attrs": BUS_ATTRS},
        "Transformer": {"public": False, "params": [], "attrs": FLOW_ATTRS + [
            "S_r", "I_max_p", "I_max_s", "P_loss", "U_p", "U_s", "taps", "tap_turn"]},
        "Branch": {"public": False, "params": [], "attrs": FLOW_ATTRS + [
            "I_real", "I_imag", "S_max", "I_max", "length",
            "R_per_km", "X_per_km", "C_per_km", "online"]},
    },
}


@dataclass
class Case:
    """One grid of a grid file, in SI units, buses and branches in file order.

    ``branches`` holds the transformers first, then the lines, each a dict:
    ``from``/``to`` (bus indices), ``r``/``x`` [ohm] and ``online``; lines also
    ``c`` [F] (the whole line's 3 x C'), transformers ``sr`` [VA], ``u_p``/``u_s``
    [V] and ``ratio`` (the current tap turn's t). ``p``/``q`` [W, VAr] are the
    loads of the current step, positive for consumption.
    """

    volts: np.ndarray  # nominal line-to-line voltage per bus
    ref: int  # index of the slack bus
    branches: list[dict]
    p: np.ndarray
    q: np.ndarray

    def is_line(self, branch: dict) -> bool:
        return "c" in branch


@dataclass
class Flows:
    """A converged power flow: ``vm`` [p.u.], ``va`` [degrees] per bus, what the
    slack supplies [W, VAr], and the power into each branch at each end [W, VAr]
    (in ``Case.branches`` order)."""

    vm: np.ndarray
    va: np.ndarray
    slack_p: float
    slack_q: float
    p_from: np.ndarray
    q_from: np.ndarray
    p_to: np.ndarray
    q_to: np.ndarray


class NotConverged(Exception):
    """An engine's ``solve`` found no solution."""


class GridEngine(mosaik_api_v3.Simulator):
    """mosaik-pypower's ``PyPower`` with the power flow left to a subclass:
    ``build(case)`` makes the solver's model of a :class:`Case` (again after a
    tap turn or ``online`` changed), ``solve(model, case)`` runs a power flow
    with the case's loads and returns :class:`Flows` or raises
    :class:`NotConverged`."""

    def __init__(self):
        super().__init__(META)
        self.grids = []  # [case, solver model] per Grid entity
        self.entities = {}  # eid -> {"etype", "grid", "idx", "static"}
        self.cache = {}  # eid -> outputs of the last power flow

    def init(self, sid, time_resolution=1.0, step_size=900, pos_loads=True,
             converge_exception=False, **sim_params):
        self.step_size = step_size
        self.pos_loads = 1 if pos_loads else -1
        self.converge_exception = converge_exception
        return self.meta

    def create(self, num, model, gridfile=None, sheetnames=None):
        if model != "Grid":
            raise ValueError(f'Unknown model: "{model}"')
        case_file = read_grid_file(gridfile, type(self).__name__)
        created = []
        for _ in range(num):
            grid = len(self.grids)
            case, entities = make_case(case_file, grid)
            self.grids.append([case, self.build(case)])
            self.entities.update(entities)
            children = [{"eid": eid, "type": e["etype"], "rel": e.get("rel", [])}
                        for eid, e in sorted(entities.items())]
            created.append({"eid": f"{grid}-grid", "type": "Grid", "rel": [],
                            "children": children})
        return created

    def step(self, time, inputs, max_advance):
        for case, _ in self.grids:
            case.p[:] = case.q[:] = 0.0  # loads are set anew every step
        changed = set()
        for eid, attrs in inputs.items():
            e = self.entities[eid]
            case = self.grids[e["grid"]][0]
            value = {attr: sum(float(v) for v in src.values()) for attr, src in attrs.items()}
            if e["etype"] == "PQBus" and set(value) <= {"P", "Q"}:
                case.p[e["idx"]] = value.get("P", 0.0) * self.pos_loads
                case.q[e["idx"]] = value.get("Q", 0.0)
            elif e["etype"] in SWITCHES and set(value) <= SWITCHES[e["etype"]]:
                new = {"online": bool(value["online"])} if "online" in value else {}
                if "tap_turn" in value:
                    new["tap_turn"] = int(value["tap_turn"])
                    if new["tap_turn"] not in e["static"]["taps"]:
                        raise ValueError(f"{eid} has no tap turn {new['tap_turn']} "
                                         f"(its taps: {sorted(e['static']['taps'])})")
                if any(e["static"][attr] != v for attr, v in new.items()):
                    e["static"].update(new)
                    switch(case.branches[e["idx"]], e["static"])
                    changed.add(e["grid"])
            else:
                raise ValueError(f"{eid} ({e['etype']}) takes no input {sorted(value)}")

        self.cache = {}
        for grid, (case, model) in enumerate(self.grids):
            if grid in changed:
                self.grids[grid][1] = model = self.build(case)
            try:
                flows = self.solve(model, case)
            except NotConverged:
                if self.converge_exception:
                    raise RuntimeError(f"Loadflow did not converge for grid {grid} "
                                       f"at time {time}!") from None
                flows = None
            self.cache.update(self.outputs(grid, case, flows))
        return time + self.step_size

    def get_data(self, outputs):
        data = {}
        for eid, attrs in outputs.items():
            known = self.cache.get(eid, {})
            data[eid] = {attr: known[attr] if attr in known else self.entities[eid]["static"][attr]
                         for attr in attrs}
        return data

    def outputs(self, grid, case, flows):
        """``{eid: {attr: value}}`` of one grid's power flow (``None``: not converged)."""
        found = {}
        for eid, e in self.entities.items():
            if e["grid"] != grid:
                continue
            if flows is None:
                found[eid] = dict.fromkeys(OUTPUTS[e["etype"]], float("nan"))
                continue
            i = e["idx"]
            if e["etype"] in ("RefBus", "PQBus"):
                p, q = ((flows.slack_p, flows.slack_q) if e["etype"] == "RefBus"
                        else (case.p[i], case.q[i]))
                found[eid] = {"P": float(p) * self.pos_loads, "Q": float(q),
                              "Vm": float(flows.vm[i] * case.volts[i]), "Va": float(flows.va[i])}
                continue
            found[eid] = {"P_from": float(flows.p_from[i]), "Q_from": float(flows.q_from[i]),
                          "P_to": float(flows.p_to[i]), "Q_to": float(flows.q_to[i])}
            if e["etype"] == "Branch":
                branch = case.branches[i]
                vm_from, vm_to = flows.vm[branch["from"]], flows.vm[branch["to"]]
                side, vm = ("from", vm_from) if vm_from >= vm_to else ("to", vm_to)
                volts = math.sqrt(3) * float(vm * case.volts[branch["from"]])
                found[eid] |= {"I_real": found[eid][f"P_{side}"] / volts,
                               "I_imag": found[eid][f"Q_{side}"] / volts}
        return found


def switch(branch: dict, static: dict) -> dict:
    """``branch`` (of a :class:`Case`) switched as its entity's ``online`` and
    ``tap_turn`` say."""
    branch["online"] = static["online"]
    if "taps" in static:
        branch["ratio"] = static["taps"][static["tap_turn"]]
    return branch


def read_grid_file(gridfile, engine: str) -> dict:
    """The contents of a grid file in mosaik-pypower's JSON format."""
    if not str(gridfile).endswith(".json"):
        raise ValueError(f"{engine} reads mosaik-pypower's JSON grids only, not {gridfile!r}")
    with open(gridfile) as f:
        case_file = json.load(f)
    if "base_mva" in case_file:
        raise ValueError(f"{engine} does not read mosaik-pypower's old JSON format "
                         f"(with base_mva): {gridfile}")
    return case_file


def make_case(case_file: dict, grid: int) -> tuple[Case, dict]:
    """The :class:`Case` and the mosaik entities of grid number ``grid``."""
    trafo_types = dict(resource_db.transformers)
    for name, (*values, taps) in case_file.get("trafo_types", {}).items():
        trafo_types[name] = resource_db.Transformer(
            *values, {int(turn): ratio for turn, ratio in taps.items()})
    line_types = dict(resource_db.lines)
    line_types.update((name, resource_db.Line(*values))
                      for name, values in case_file.get("branch_types", {}).items())

    entities, bus = {}, {}
    volts = np.array([base_kv * 1000 for _, _, base_kv in case_file["bus"]], dtype=float)
    refs = [i for i, (_, btype, _) in enumerate(case_file["bus"]) if btype == "REF"]
    if len(refs) != 1:
        raise ValueError(f"the grid needs exactly one REF bus, not {len(refs)}")
    for i, (bid, btype, _) in enumerate(case_file["bus"]):
        bus[bid] = i
        entities[f"{grid}-{bid}"] = {"etype": "RefBus" if btype == "REF" else "PQBus",
                                     "grid": grid, "idx": i, "static": {"Vl": float(volts[i])}}

    branches = []
    for tid, fbus, tbus, ttype, online, tap_turn in case_file["trafo"]:
        t = trafo_types[ttype]
        u_p, u_s = float(volts[bus[fbus]]), float(volts[bus[tbus]])
        if u_p < u_s:
            raise ValueError(f"transformer {tid}: its from bus must be the high-voltage side")
        entities[f"{grid}-{tid}"] = {
            "etype": "Transformer", "grid": grid, "idx": len(branches),
            "rel": [f"{grid}-{fbus}", f"{grid}-{tbus}"],
            "static": {"S_r": t.sr * 1e6, "I_max_p": t.i_max_p, "I_max_s": t.i_max_s,
                       "P_loss": t.pl * 1000, "U_p": u_p, "U_s": u_s,
                       "taps": t.taps, "tap_turn": tap_turn, "online": bool(online)},
        }
        branches.append(switch({"from": bus[fbus], "to": bus[tbus], "r": t.r, "x": t.x,
                                "sr": t.sr * 1e6, "u_p": u_p, "u_s": u_s},
                               entities[f"{grid}-{tid}"]["static"]))

    for lid, fbus, tbus, ltype, length, online in case_file["branch"]:
        line = line_types[ltype]
        entities[f"{grid}-{lid}"] = {
            "etype": "Branch", "grid": grid, "idx": len(branches),
            "rel": [f"{grid}-{fbus}", f"{grid}-{tbus}"],
            "static": {"S_max": float(volts[bus[fbus]]) * line.i, "I_max": line.i, "length": length,
                       "R_per_km": line.r, "X_per_km": line.x, "C_per_km": line.c / 1e9,
                       "online": bool(online)},
        }
        branches.append({"from": bus[fbus], "to": bus[tbus], "r": line.r * length,
                         "x": line.x * length, "c": 3 * line.c / 1e9 * length,
                         "i_max": line.i, "online": bool(online)})
    n = len(volts)
    return Case(volts, refs[0], branches, np.zeros(n), np.zeros(n)), entities
