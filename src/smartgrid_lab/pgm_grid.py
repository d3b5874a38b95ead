"""A mosaik grid simulator on power-grid-model: a fast drop-in for mosaik-pypower's ``PyPower``.

The same grid file and the same mosaik contract as mosaik-pypower
(``smartgrid_lab.grid_engine``, which also states the physical model); the
power flow is power-grid-model's Newton-Raphson (C++, made for repeated
distribution-grid calculations). The model is built once; each step only
updates the loads (``PowerGridModel.update``) and solves. A tap turn or an
``online`` change rebuilds it.

The model in power-grid-model's terms (SI units, three-phase): nodes with
``u_rated`` = the file's base voltage; a ``source`` at 1.0 p.u. on the REF bus
whose internal impedance is negligible (``sk`` = 1e15 VA: 0.4 mohm at 20 kV);
one constant-power ``sym_load`` per PQ bus; lines with ``r1``, ``x1`` [ohm]
and ``c1`` = 3 x C' x length [F]; the transformer as a ``generic_branch``
with its R and X referred to the low-voltage side (times (U_s/U_p)**2) and
the off-nominal ratio ``k`` = 1/t of the tap turn (PYPOWER's ``TAP``).
"""

import numpy as np
from power_grid_model import (CalculationMethod, ComponentType, DatasetType, LoadGenType,
                              PowerGridModel, initialize_array)
from power_grid_model.errors import IterationDiverge, SparseMatrixError

from smartgrid_lab.grid_engine import Case, Flows, GridEngine, NotConverged

NODE, LINE, BRANCH, SOURCE, LOAD = (ComponentType.node, ComponentType.line,
                                    ComponentType.generic_branch, ComponentType.source,
                                    ComponentType.sym_load)
TOLERANCE = 1e-10  # p.u.: the largest voltage change of the last Newton-Raphson iteration


class PgmGrid(GridEngine):
    def build(self, case: Case):
        """A power-grid-model of ``case``: ids 0..n-1 are the buses, n.. the
        branches in the case's order, then the source, then the loads."""
        n, lines = len(case.volts), [i for i, b in enumerate(case.branches) if case.is_line(b)]
        trafos = [i for i, b in enumerate(case.branches) if not case.is_line(b)]
        pq = np.array([bus for bus in range(n) if bus != case.ref])
        data = {NODE: table(NODE, id=np.arange(n), u_rated=case.volts)}
        data[LINE] = table(LINE, id=n + np.array(lines, dtype=int), **branch_ends(case, lines),
                           r1=[case.branches[i]["r"] for i in lines],
                           x1=[case.branches[i]["x"] for i in lines],
                           c1=[case.branches[i]["c"] for i in lines], tan1=0.0,
                           i_n=[case.branches[i]["i_max"] for i in lines])
        lv_side = [(case.branches[i]["u_s"] / case.branches[i]["u_p"]) ** 2 for i in trafos]
        data[BRANCH] = table(BRANCH, id=n + np.array(trafos, dtype=int), **branch_ends(case, trafos),
                             r1=np.multiply([case.branches[i]["r"] for i in trafos], lv_side),
                             x1=np.multiply([case.branches[i]["x"] for i in trafos], lv_side),
                             g1=0.0, b1=0.0, k=[1 / case.branches[i]["ratio"] for i in trafos],
                             theta=0.0, sn=[case.branches[i]["sr"] for i in trafos])
        first_load = n + len(case.branches) + 1
        data[SOURCE] = table(SOURCE, id=[first_load - 1], node=[case.ref], status=1,
                             u_ref=1.0, u_ref_angle=0.0, sk=1e15)
        data[LOAD] = table(LOAD, id=first_load + np.arange(len(pq)), node=pq, status=1,
                           type=LoadGenType.const_power, p_specified=0.0, q_specified=0.0)
        loads = initialize_array(DatasetType.update, LOAD, len(pq))
        loads["id"] = data[LOAD]["id"]
        return PowerGridModel(data), loads, pq, np.array(lines, dtype=int), np.array(trafos, dtype=int)

    def solve(self, model, case: Case) -> Flows:
        grid, loads, pq, lines, trafos = model
        loads["p_specified"], loads["q_specified"] = case.p[pq], case.q[pq]
        grid.update(update_data={LOAD: loads})
        try:
            result = grid.calculate_power_flow(
                error_tolerance=TOLERANCE, calculation_method=CalculationMethod.newton_raphson,
                output_component_types={NODE, LINE, BRANCH, SOURCE})
        except (IterationDiverge, SparseMatrixError):  # no solution, or a singular matrix
            raise NotConverged from None

        def flow(attr):
            values = np.empty(len(case.branches))
            values[lines], values[trafos] = result[LINE][attr], result[BRANCH][attr]
            return values

        return Flows(vm=result[NODE]["u_pu"], va=np.degrees(result[NODE]["u_angle"]),
                     slack_p=result[SOURCE]["p"][0], slack_q=result[SOURCE]["q"][0],
                     p_from=flow("p_from"), q_from=flow("q_from"),
                     p_to=flow("p_to"), q_to=flow("q_to"))


def table(component, **columns):
    """An input array of ``component`` with these columns (the length of ``id``)."""
    array = initialize_array(DatasetType.input, component, len(columns["id"]))
    for name, values in columns.items():
        array[name] = values
    return array


def branch_ends(case: Case, indices) -> dict:
    return {"from_node": [case.branches[i]["from"] for i in indices],
            "to_node": [case.branches[i]["to"] for i in indices],
            "from_status": [int(case.branches[i]["online"]) for i in indices],
            "to_status": [int(case.branches[i]["online"]) for i in indices]}
