"""A mosaik grid simulator on pandapower: a drop-in for mosaik-pypower's ``PyPower``.

The lab's proof that swapping a simulator works: the same grid file and the
same mosaik contract as mosaik-pypower (``smartgrid_lab.grid_engine``, which
also states the physical model); only the power flow is pandapower's
Newton-Raphson instead of PYPOWER's.

The model in pandapower's terms: buses with ``vn_kv`` = the file's base kV
(line-to-line), an ``ext_grid`` at 1.0 p.u. on the REF bus, one load per PQ
bus; lines from R', X' and ``c_nf_per_km = 3 * C'``; the transformer's
short-circuit voltages from its R and X, ``vk_percent = 100 * |R + jX| * S_r /
U_p**2`` and ``vkr_percent = 100 * R * S_r / U_p**2``, with ``i0_percent =
pfe_kw = 0``. A tap turn with ratio t sets ``vn_lv_kv = U_s * t`` and divides
vk and vkr by t**2 (pandapower refers the impedance to ``vn_lv_kv``), which is
PYPOWER's ``TAP = 1/t``.

pandapower is slow here (about 30 ms a power flow without numba; the demo's
day takes about 80 s instead of 30 s); its results differ from PYPOWER's only
within the solvers' convergence tolerance (``tests/test_grid_engines.py``).
"""

import math

import numpy as np
import pandapower as pp

from smartgrid_lab.grid_engine import Case, Flows, GridEngine, NotConverged


class PandapowerGrid(GridEngine):
    def build(self, case: Case):
        net = pp.create_empty_network()
        for volts in case.volts:
            pp.create_bus(net, vn_kv=volts / 1000)
        pp.create_ext_grid(net, case.ref, vm_pu=1.0)
        pq = [bus for bus in range(len(case.volts)) if bus != case.ref]
        pp.create_loads(net, pq, p_mw=0.0)
        for b in case.branches:
            if case.is_line(b):
                pp.create_line_from_parameters(
                    net, b["from"], b["to"], length_km=1.0, r_ohm_per_km=b["r"],
                    x_ohm_per_km=b["x"], c_nf_per_km=b["c"] * 1e9, max_i_ka=b["i_max"] / 1000,
                    in_service=b["online"])
            else:
                z_base = b["u_p"] ** 2 / b["sr"]  # ohm, at the transformer's rating
                pp.create_transformer_from_parameters(
                    net, b["from"], b["to"], sn_mva=b["sr"] / 1e6, vn_hv_kv=b["u_p"] / 1000,
                    vn_lv_kv=b["u_s"] / 1000 * b["ratio"],
                    vk_percent=100 * math.hypot(b["r"], b["x"]) / z_base / b["ratio"] ** 2,
                    vkr_percent=100 * b["r"] / z_base / b["ratio"] ** 2,
                    pfe_kw=0.0, i0_percent=0.0, in_service=b["online"])
        return net, pq

    def solve(self, model, case: Case) -> Flows:
        net, pq = model
        net.load["p_mw"] = case.p[pq] / 1e6
        net.load["q_mvar"] = case.q[pq] / 1e6
        try:
            pp.runpp(net, numba=False)  # numba is not installed
        except pp.LoadflowNotConverged:
            raise NotConverged from None

        def flow(trafo_column, line_column):  # the case's order: transformers, then lines
            return np.concatenate([net.res_trafo[trafo_column], net.res_line[line_column]]) * 1e6

        return Flows(vm=net.res_bus.vm_pu.to_numpy(), va=net.res_bus.va_degree.to_numpy(),
                     slack_p=net.res_ext_grid.p_mw.iat[0] * 1e6,
                     slack_q=net.res_ext_grid.q_mvar.iat[0] * 1e6,
                     p_from=flow("p_hv_mw", "p_from_mw"), q_from=flow("q_hv_mvar", "q_from_mvar"),
                     p_to=flow("p_lv_mw", "p_to_mw"), q_to=flow("q_lv_mvar", "q_to_mvar"))
