"""A mosaik grid simulator on power-grid-model: a fast drop-in for mosaik-pypower's ``PyPower``.

The same grid file and the same mosaik contract as mosaik-pypower
(``smartgrid_lab.grid_engine``, which also states the physical model); the
power flow is power-grid-model's Newton-Raphson (C++, made for repeated
distribution-grid calculations). The model is built once; each step only
updates the loads (``PowerGridModel.update``) and solves, about 0.5 ms for the
lab's grid where PYPOWER takes 15 ms. A tap turn or an ``online`` change
rebuilds the model.

The model in power-grid-model's terms (SI units, three-phase): nodes with
``u_rated`` = the file's base voltage; a ``source`` at 1.0 p.u. on the REF bus
whose internal impedance is negligible (``sk`` = 1e15 VA: 0.4 micro-ohm at
20 kV); one constant-power ``sym_load`` per PQ bus; lines with ``r1``, ``x1``
[ohm] and ``c1`` = 3 x C' x length [F]; the transformer as a
``generic_branch`` with its R and X referred to the low-voltage side (times
(U_s/U_p)**2) and the off-nominal ratio ``k`` = 1/t of its tap turn
(PYPOWER's ``TAP``).
"""

import numpy as np
from power_grid_model import (CalculationMethod, ComponentType, DatasetType, LoadGenType,
                              PowerGridModel, initialize_array)
from power_grid_model.errors import IterationDiverge, SparseMatrixError

from smartgrid_lab.grid_engine import Case, Flows, GridEngine, NotConverged

NODE, LINE, TRAFO, SOURCE, LOAD = (ComponentType.node, ComponentType.line,
                                   ComponentType.generic_branch, ComponentType.source,
                                   ComponentType.sym_load)
TOLERANCE = 1e-10  # p.u.: the largest voltage change of the last Newton-Raphson iteration


class PgmGrid(GridEngine):
    def build(self, case: Case):
        """The power-grid-model of ``case``; its ids: the buses 0..n-1, then the
        branches in the case's order, the source, the loads."""
        n, m = len(case.volts), len(case.branches)
        lines = [i for i, b in enumerate(case.branches) if case.is_line(b)]
        trafos = [i for i, b in enumerate(case.branches) if not case.is_line(b)]
        line, trafo = [case.branches[i] for i in lines], [case.branches[i] for i in trafos]
        pq = np.array([bus for bus in range(n) if bus != case.ref])
        loads = initialize_array(DatasetType.update, LOAD, len(pq))  # rewritten every step
        loads["id"] = n + m + 1 + np.arange(len(pq))
        grid = PowerGridModel({
            NODE: table(NODE, id=range(n), u_rated=case.volts),
            LINE: table(LINE, id=[n + i for i in lines], **ends(line),
                        r1=[b["r"] for b in line], x1=[b["x"] for b in line],
                        c1=[b["c"] for b in line], tan1=0.0, i_n=[b["i_max"] for b in line]),
            TRAFO: table(TRAFO, id=[n + i for i in trafos], **ends(trafo),
                         r1=[b["r"] * (b["u_s"] / b["u_p"]) ** 2 for b in trafo],
                         x1=[b["x"] * (b["u_s"] / b["u_p"]) ** 2 for b in trafo],
                         g1=0.0, b1=0.0, k=[1 / b["ratio"] for b in trafo], theta=0.0,
                         sn=[b["sr"] for b in trafo]),
            SOURCE: table(SOURCE, id=[n + m], node=[case.ref], status=1, u_ref=1.0,
                          u_ref_angle=0.0, sk=1e15),
            LOAD: table(LOAD, id=loads["id"], node=pq, status=1, type=LoadGenType.const_power,
                        p_specified=0.0, q_specified=0.0),
        })
        return grid, loads, pq, lines, trafos

    def solve(self, model, case: Case) -> Flows:
        grid, loads, pq, lines, trafos = model
        loads["p_specified"], loads["q_specified"] = case.p[pq], case.q[pq]
        grid.update(update_data={LOAD: loads})
        try:
            result = grid.calculate_power_flow(
                error_tolerance=TOLERANCE, calculation_method=CalculationMethod.newton_raphson,
                output_component_types={NODE, LINE, TRAFO, SOURCE})
        except (IterationDiverge, SparseMatrixError):  # no solution, or a singular matrix
            raise NotConverged from None

        def flow(attr):  # in the case's order
            values = np.empty(len(case.branches))
            values[lines], values[trafos] = result[LINE][attr], result[TRAFO][attr]
            return values

        return Flows(vm=result[NODE]["u_pu"], va=np.degrees(result[NODE]["u_angle"]),
                     slack_p=result[SOURCE]["p"][0], slack_q=result[SOURCE]["q"][0],
                     p_from=flow("p_from"), q_from=flow("q_from"),
                     p_to=flow("p_to"), q_to=flow("q_to"))


def table(component, **columns):
    """An input array of ``component`` with these columns (as long as ``id``)."""
    array = initialize_array(DatasetType.input, component, len(columns["id"]))
    for name, values in columns.items():
        array[name] = values
    return array


def ends(branches: list[dict]) -> dict:
    """The columns that connect ``branches``, switched as they are."""
    return {"from_node": [b["from"] for b in branches], "to_node": [b["to"] for b in branches],
            "from_status": [int(b["online"]) for b in branches],
            "to_status": [int(b["online"]) for b in branches]}
