"""A mosaik grid simulator on pandapower: a drop-in for mosaik-pypower's ``PyPower``.

It exists to prove that simulator swapping works: it reads the same grid file
(mosaik-pypower's JSON format, e.g. ``data/grid.json``) and offers the same
mosaik contract as mosaik-pypower 0.9 - the same ``init`` parameters, model
``Grid`` with param ``gridfile``, children with the same ids
(``<grid index>-<id from the file>``), types (``RefBus``, ``PQBus``,
``Transformer``, ``Branch``), relations (each branch and transformer is
related to its from and to bus) and attributes with the same units and signs.
Only the power-flow engine differs: pandapower's Newton-Raphson instead of
PYPOWER's.

Same physical model as mosaik-pypower, in pandapower's terms:

- Buses: ``vn_kv`` = the file's base kV (line-to-line). mosaik-pypower solves
  a per-phase model (phase-to-neutral base kV = kV/sqrt(3), powers divided by
  3); pandapower solves the equivalent three-phase model. Both give the same
  voltages and the same three-phase powers.
- REF bus: an ``ext_grid`` at 1.0 p.u., 0 degrees (mosaik-pypower's slack
  generator). PQ buses: one load each, set from the summed inputs every step.
- Lines: R', X' in ohm/km as in the file. Capacitance: mosaik-pypower uses
  3 x C' (its ``power_factor``), so pandapower gets ``c_nf_per_km = 3 * C'``.
- Transformer: the file's R and X (ohm, referred to the "from" bus, which must
  be the high-voltage side) become ``vk_percent = 100 * |R + jX| * S_r / U_p**2``
  and ``vkr_percent = 100 * R * S_r / U_p**2``; no magnetising branch
  (``i0_percent = pfe_kw = 0``; mosaik-pypower sets b = 0 and ignores P_loss).
  A tap turn with ratio t (``taps[tap_turn]``) raises the secondary voltage by
  t and leaves the impedance's per-unit value fixed, as PYPOWER's
  ``TAP = 1/t`` does: ``vn_lv_kv = U_s * t`` and vk, vkr divided by t**2
  (pandapower refers the impedance to ``vn_lv_kv``).

Attributes, as mosaik-pypower reports them:

- ``P`` [W], ``Q`` [VAr] per bus: PQBus = the summed inputs, RefBus = what the
  slack supplies. With ``pos_loads=True`` loads are positive and feed-in
  negative; with ``pos_loads=False`` both ``P`` signs flip (``Q`` never flips).
- ``Vl`` [V] nominal line-to-line, ``Vm`` [V] = vm_pu * Vl, ``Va`` [degrees].
- ``P_from``/``Q_from``/``P_to``/``Q_to`` [W, VAr]: power into the branch
  at each end (pandapower's ``p_from_mw`` etc., ``p_hv_mw`` etc. for the
  transformer, times 1e6).
- ``I_real``/``I_imag`` [A] (branches only): P and Q at the end with the higher
  voltage divided by sqrt(3) * Vm there - mosaik-pypower's definition.
- Static attributes (``S_r``, ``S_max`` = Vl * I_max, ``C_per_km`` in F/km, ...)
  exactly as mosaik-pypower derives them from the file.

Differences from mosaik-pypower: only the JSON format "without base_mva" is
read (no Excel, no old format); the transformer's "from" bus must be its
high-voltage side; ``online`` works as an input for branches too (mosaik-pypower
raises), and ``tap_turn``/``online`` report the current value rather than the
initial one. When the power flow does not converge, outputs are NaN
(or ``converge_exception=True`` raises), as in mosaik-pypower. pandapower is
slower (about 30 ms a power flow without numba; the demo's day takes about
80 s instead of 30 s), and its results differ from PYPOWER's only within the
solvers' convergence tolerance (``tests/test_grid_engines.py``).
"""

import json
import math

import mosaik_api_v3
import pandapower as pp
from mosaik_components.mosaik_pypower import resource_db

BUS_ATTRS = ["P", "Q", "Vl", "Vm", "Va"]
FLOW_ATTRS = ["P_from", "Q_from", "P_to", "Q_to"]
OUTPUTS = {"RefBus": ["P", "Q", "Vm", "Va"], "PQBus": ["P", "Q", "Vm", "Va"],
           "Transformer": FLOW_ATTRS, "Branch": FLOW_ATTRS + ["I_real", "I_imag"]}
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


class PandapowerGrid(mosaik_api_v3.Simulator):
    def __init__(self):
        super().__init__(META)
        self.nets = []  # one pandapower network per Grid entity
        self.entities = {}  # eid -> {"etype", "grid", "idx", "static", ...}
        self.cache = {}  # eid -> results of the last power flow

    def init(self, sid, time_resolution=1.0, step_size=900, pos_loads=True,
             converge_exception=False, **sim_params):
        self.step_size = step_size
        self.pos_loads = 1 if pos_loads else -1
        self.converge_exception = converge_exception
        return self.meta

    def create(self, num, model, gridfile=None, sheetnames=None):
        if model != "Grid":
            raise ValueError(f'Unknown model: "{model}"')
        if not str(gridfile).endswith(".json"):
            raise ValueError(f"PandapowerGrid reads mosaik-pypower's JSON grids only, "
                             f"not {gridfile!r}")
        with open(gridfile) as f:
            case = json.load(f)
        grids = []
        for _ in range(num):
            grid = len(self.nets)
            net, entities = build_net(case, grid)
            self.nets.append(net)
            self.entities.update(entities)
            children = [{"eid": eid, "type": e["etype"], "rel": e.get("rel", [])}
                        for eid, e in sorted(entities.items())]
            grids.append({"eid": f"{grid}-grid", "type": "Grid", "rel": [],
                          "children": children})
        return grids

    def step(self, time, inputs, max_advance):
        for net in self.nets:
            net.load[["p_mw", "q_mvar"]] = 0.0  # loads are set anew every step
        for eid, attrs in inputs.items():
            e = self.entities[eid]
            net = self.nets[e["grid"]]
            value = {attr: sum(float(v) for v in src.values()) for attr, src in attrs.items()}
            if e["etype"] == "PQBus" and set(value) <= {"P", "Q"}:
                net.load.at[e["idx"], "p_mw"] = value.get("P", 0.0) * self.pos_loads / 1e6
                net.load.at[e["idx"], "q_mvar"] = value.get("Q", 0.0) / 1e6
            elif e["etype"] in ("Transformer", "Branch") and set(value) <= {"tap_turn", "online"}:
                table = "trafo" if e["etype"] == "Transformer" else "line"
                if "online" in value:
                    e["static"]["online"] = bool(value["online"])
                    net[table].at[e["idx"], "in_service"] = bool(value["online"])
                if "tap_turn" in value:  # transformers only, by the meta
                    e["static"]["tap_turn"] = int(value["tap_turn"])
                    set_tap(net, e)
            else:
                raise ValueError(f"{eid} ({e['etype']}) takes no input {sorted(value)}")

        self.cache = {}
        for grid, net in enumerate(self.nets):
            try:
                pp.runpp(net, numba=False)  # numba is not installed
                converged = True
            except pp.LoadflowNotConverged:
                if self.converge_exception:
                    raise RuntimeError(f"Loadflow did not converge for grid {grid} "
                                       f"at time {time}!") from None
                converged = False
            self.cache.update(results(net, grid, self.entities, self.pos_loads, converged))
        return time + self.step_size

    def get_data(self, outputs):
        data = {}
        for eid, attrs in outputs.items():
            for attr in attrs:
                known = self.cache.get(eid, {})
                value = known[attr] if attr in known else self.entities[eid]["static"][attr]
                data.setdefault(eid, {})[attr] = value
        return data


def build_net(case, grid):
    """A pandapower network and the mosaik entities of one grid in ``case``."""
    if "base_mva" in case:
        raise ValueError("PandapowerGrid does not read mosaik-pypower's old JSON format")
    trafo_types = dict(resource_db.transformers)
    for name, (*values, taps) in case.get("trafo_types", {}).items():
        trafo_types[name] = resource_db.Transformer(
            *values, {int(turn): ratio for turn, ratio in taps.items()})
    line_types = dict(resource_db.lines)
    line_types.update((name, resource_db.Line(*values))
                      for name, values in case.get("branch_types", {}).items())

    net = pp.create_empty_network()
    entities, bus = {}, {}
    for bid, btype, base_kv in case["bus"]:
        eid = f"{grid}-{bid}"
        bus[bid] = pp.create_bus(net, vn_kv=base_kv, name=bid)
        entity = {"grid": grid, "bus": bus[bid], "static": {"Vl": base_kv * 1000}}
        if btype == "REF":
            entity.update(etype="RefBus", idx=pp.create_ext_grid(net, bus[bid], vm_pu=1.0))
        else:
            entity.update(etype="PQBus", idx=pp.create_load(net, bus[bid], p_mw=0.0))
        entities[eid] = entity

    def vl(bid):
        return entities[f"{grid}-{bid}"]["static"]["Vl"]

    for tid, fbus, tbus, ttype, online, tap_turn in case["trafo"]:
        t = trafo_types[ttype]
        if vl(fbus) < vl(tbus):
            raise ValueError(f"transformer {tid}: its from bus must be the high-voltage side")
        z_base = (vl(fbus) / 1000) ** 2 / t.sr  # ohm, at the transformer's rating
        idx = pp.create_transformer_from_parameters(
            net, bus[fbus], bus[tbus], sn_mva=t.sr, vn_hv_kv=vl(fbus) / 1000,
            vn_lv_kv=vl(tbus) / 1000, vk_percent=0, vkr_percent=0,  # set by set_tap
            pfe_kw=0.0, i0_percent=0.0, in_service=bool(online), name=tid)
        entities[f"{grid}-{tid}"] = {
            "etype": "Transformer", "grid": grid, "idx": idx,
            "rel": [f"{grid}-{fbus}", f"{grid}-{tbus}"],
            "vk_percent": 100 * math.hypot(t.r, t.x) / z_base,
            "vkr_percent": 100 * t.r / z_base,
            "static": {"S_r": t.sr * 1e6, "I_max_p": t.i_max_p, "I_max_s": t.i_max_s,
                       "P_loss": t.pl * 1000, "U_p": vl(fbus), "U_s": vl(tbus),
                       "taps": t.taps, "tap_turn": tap_turn, "online": bool(online)},
        }
        set_tap(net, entities[f"{grid}-{tid}"])

    for lid, fbus, tbus, ltype, length, online in case["branch"]:
        line = line_types[ltype]
        idx = pp.create_line_from_parameters(
            net, bus[fbus], bus[tbus], length_km=length, r_ohm_per_km=line.r,
            x_ohm_per_km=line.x, c_nf_per_km=3 * line.c, max_i_ka=line.i / 1000,
            in_service=bool(online), name=lid)
        entities[f"{grid}-{lid}"] = {
            "etype": "Branch", "grid": grid, "idx": idx,
            "rel": [f"{grid}-{fbus}", f"{grid}-{tbus}"],
            "static": {"S_max": vl(fbus) * line.i, "I_max": line.i, "length": length,
                       "R_per_km": line.r, "X_per_km": line.x, "C_per_km": line.c / 1e9,
                       "online": bool(online)},
        }
    return net, entities


def set_tap(net, trafo):
    """Apply the transformer's tap turn the way PYPOWER does (see module docstring)."""
    ratio = trafo["static"]["taps"][trafo["static"]["tap_turn"]]
    net.trafo.at[trafo["idx"], "vn_lv_kv"] = trafo["static"]["U_s"] / 1000 * ratio
    net.trafo.at[trafo["idx"], "vk_percent"] = trafo["vk_percent"] / ratio**2
    net.trafo.at[trafo["idx"], "vkr_percent"] = trafo["vkr_percent"] / ratio**2


def results(net, grid, entities, pos_loads, converged):
    """``{eid: {attr: value}}`` of one grid's power flow, in mosaik-pypower's units."""
    return {eid: entity_results(net, e, entities, pos_loads) if converged
            else dict.fromkeys(OUTPUTS[e["etype"]], float("nan"))
            for eid, e in entities.items() if e["grid"] == grid}


def entity_results(net, e, entities, pos_loads):
    if e["etype"] in ("RefBus", "PQBus"):
        res = net.res_ext_grid if e["etype"] == "RefBus" else net.load
        bus = net.res_bus.loc[e["bus"]]
        return {"P": res.at[e["idx"], "p_mw"] * 1e6 * pos_loads,
                "Q": res.at[e["idx"], "q_mvar"] * 1e6,
                "Vm": bus.vm_pu * e["static"]["Vl"], "Va": bus.va_degree}
    if e["etype"] == "Transformer":
        res = net.res_trafo.loc[e["idx"]]
        return {"P_from": res.p_hv_mw * 1e6, "Q_from": res.q_hv_mvar * 1e6,
                "P_to": res.p_lv_mw * 1e6, "Q_to": res.q_lv_mvar * 1e6}
    res = net.res_line.loc[e["idx"]]
    flows = {"P_from": res.p_from_mw * 1e6, "Q_from": res.q_from_mvar * 1e6,
             "P_to": res.p_to_mw * 1e6, "Q_to": res.q_to_mvar * 1e6}
    line = net.line.loc[e["idx"]]
    vm_from, vm_to = net.res_bus.vm_pu[line.from_bus], net.res_bus.vm_pu[line.to_bus]
    side, vm = ("from", vm_from) if vm_from >= vm_to else ("to", vm_to)
    volts = math.sqrt(3) * vm * entities[e["rel"][0]]["static"]["Vl"]
    return flows | {"I_real": flows[f"P_{side}"] / volts, "I_imag": flows[f"Q_{side}"] / volts}
