"""The parts every scenario of the lab's grid shares, so each scenario file
shows only what makes it different.

The grid (by default the lab's ``data/grid.json``, mosaik-pypower; the demo
takes any grid, see smartgrid_lab.grids) with its households (mosaik-householdsim)
connected to their nodes; recording the grid; and the visualiser's topology.
"""

from pathlib import Path

from mosaik.util import connect_many_to_one

from smartgrid_lab import datagen, grids

DATA = Path(__file__).resolve().parents[2] / "data"
STEP = grids.LAB_STEP  # seconds: the lab's profiles have one value a minute


class LabGrid:
    """The grid and its households, created and connected in ``world``: the
    lab's, or the one *inputs* (smartgrid_lab.grids.prepare) describes."""

    def __init__(self, world, grid_sim, household_sim, inputs: grids.GridInputs | None = None):
        inputs = inputs or grids.prepare(None, DATA)
        grid = grid_sim.Grid(gridfile=str(inputs.grid_file)).children
        self.houses = household_sim.ResidentialLoads(
            sim_start=datagen.START, profile_file=str(inputs.households_file),
            grid_name=datagen.GRID_NAME,
        ).children
        self.nodes = [e for e in grid if e.type in ("RefBus", "PQBus")]
        self.branches = [e for e in grid if e.type in ("Transformer", "Branch")]
        self.buses = {bus.eid.split("-", 1)[1]: bus for bus in grid if bus.type == "PQBus"}
        self.cables = {line.eid.split("-", 1)[1]: line for line in grid if line.type == "Branch"}
        house_nodes = world.get_data(self.houses, "node_id")
        self.house_node = {house: house_nodes[house]["node_id"] for house in self.houses}
        for house, node in self.house_node.items():
            world.connect(house, self.buses[node], ("P_out", "P"))

    def record(self, world, db) -> None:
        """Record the households and every node's and branch's power flow."""
        connect_many_to_one(world, self.houses, db, "P_out")
        connect_many_to_one(world, self.nodes, db, "P", "Q", "Vl", "Vm", "Va")
        connect_many_to_one(world, self.branches, db, "P_from", "Q_from", "P_to", "Q_to")

    def show(self, world, web_sim, devices, device_type: str, band=(0.97, 1.03),
             p_range=(-10_000, 0), hidden=(), device_attrs=None):
        """The visualiser's topology: nodes coloured by voltage, houses and devices.

        ``band`` (p.u.) is the voltage band: the node colours run from green
        (1 p.u.) through yellow at the band's edges to red half a band
        further out, and the page rings the nodes outside the band.
        ``p_range`` (W) is the devices' power scale: generators (PV) feed in,
        negative; devices with a positive range (electric cars) are drawn as
        loads; ``device_attrs`` names each device's power attribute if not
        ``P``. Entities of the ``hidden`` types stay off the page (mosaik-web
        draws a cable as a link between its two buses and fails on a cable
        that a controller reads too). Returns the topology, for a scenario to
        add entities to.
        """
        web_sim.set_config(ignore_types=["Topology", "ResidentialLoads", "Grid", "Database",
                                         *hidden])
        topology = web_sim.Topology()
        connect_many_to_one(world, self.nodes, topology, "P", "Vm")
        connect_many_to_one(world, self.houses, topology, "P_out")
        for device, attr in zip(devices, device_attrs or ["P"] * len(devices)):
            world.connect(device, topology, (attr, "P"))
        lv_volts = min(bus["Vl"] for bus in world.get_data(self.nodes, "Vl").values())
        trafos = [branch for branch in self.branches if branch.type == "Transformer"]
        rating = sum(trafo["S_r"] for trafo in world.get_data(trafos, "S_r").values())
        margin = (band[1] - band[0]) / 2
        web_sim.set_etypes({
            "RefBus": {"cls": "refbus", "attr": "P", "unit": "P [W]",
                       "default": 0, "min": 0, "max": 100_000,
                       "rating": rating},
            "PQBus": {"cls": "pqbus", "attr": "Vm", "unit": "U [V]", "default": lv_volts,
                      "min": (band[0] - margin) * lv_volts, "max": (band[1] + margin) * lv_volts,
                      "nominal": lv_volts, "band": list(band)},
            "House": {"cls": "load", "attr": "P_out", "unit": "P [W]",
                      "default": 0, "min": 0, "max": 3000},
            device_type: {"cls": "gen" if p_range[1] <= 0 else "load", "attr": "P",
                          "unit": "P [W]", "default": 0, "min": p_range[0], "max": p_range[1]},
        })
        return topology
