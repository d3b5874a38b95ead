"""Pre-flight check of the lab's three input files, before a run starts.

Why: the upstream loaders (mosaik-pypower, mosaik-householdsim, mosaik-csv)
fail on malformed data with tracebacks from deep inside (KeyError,
IndexError, pandas errors) or, worse, run happily with garbage: NaN power, a
PV series that silently repeats its last row, a house on a bus that does not
exist. These checks read each file the way its loader does, are at least as
strict, and raise one :class:`InputError` that names the file, the line (or
JSON path), what is wrong and what was expected.

    check_inputs(data_dir, grid_name, steps, start=...)   # all three files

``steps`` is the number of one-minute simulation steps (the demo day: 1440);
``start`` the simulation start (default: each series' own first timestamp).
The formats are described in ``data/README.md``.
"""

from pathlib import Path

from smartgrid_lab.datagen import GRID_FILE, HOUSEHOLDS_FILE, PV_FILE
from smartgrid_lab.inputs.common import InputError
from smartgrid_lab.inputs.grid import check_grid
from smartgrid_lab.inputs.households import check_households
from smartgrid_lab.inputs.pv import check_pv

__all__ = ["InputError", "check_grid", "check_households", "check_pv", "check_inputs",
           "check_files"]


def check_inputs(data_dir, grid_name: str, steps: int, *, start=None) -> None:
    """Check grid.json, households.data and pv.csv in *data_dir*; raise InputError."""
    data_dir = Path(data_dir)
    check_files(data_dir / GRID_FILE, data_dir / HOUSEHOLDS_FILE, data_dir / PV_FILE,
                grid_name, steps, start=start)


def check_files(grid_file, households_file, pv_file, grid_name: str, steps: int, *,
                start=None, pv_resolution: int = 1) -> None:
    """Check a grid, its household and its PV file; raise InputError.

    The houses must sit on PQ buses of this grid, and both series must cover
    *steps* one-minute steps from *start* (default: each series' own start).
    """
    buses = check_grid(grid_file)
    check_households(households_file, grid_name, buses, steps, start=start)
    check_pv(pv_file, steps, start=start, resolution=pv_resolution)
