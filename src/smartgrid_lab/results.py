"""Read a run's HDF5 file and check it against physics.

mosaik-hdf5 stores one group per entity under ``Series`` (named
``<sim id>.<entity id>``) with one dataset per attribute and one value per
recorded step. :func:`physics_problems` says, in words, what is physically
wrong with a run; an empty list means nothing is.

    python -m smartgrid_lab.results results/<run-id>/demo.hdf5
"""

import sys
from pathlib import Path

import h5py
import numpy as np

VOLTAGE_BAND = (0.9, 1.1)  # p.u., a generous band around EN 50160's ±10 %
MAX_LOSS_SHARE = 0.1  # grid losses as a share of the power through the slack bus


def read_series(hdf5_file: Path) -> dict[str, dict[str, np.ndarray]]:
    """``{entity: {attribute: values over time}}`` for every recorded entity."""
    with h5py.File(hdf5_file, "r") as db:
        return {
            entity: {attr: dataset[()] for attr, dataset in group.items()}
            for entity, group in db["Series"].items()
        }


def entities_of(series: dict, kind: str) -> dict[str, dict[str, np.ndarray]]:
    """The entities whose id contains ``kind``, e.g. ``"House_"`` or ``"PV_"``."""
    return {entity: attrs for entity, attrs in series.items() if kind in entity}


def power_balance(series: dict) -> dict[str, np.ndarray]:
    """Slack-bus power against the sum of all loads and generators, per step.

    PYPOWER's slack bus supplies what the loads draw minus what generators
    (PV, inverters, batteries: every entity outside the grid that records a
    power ``P``) feed in (negative), plus the losses in cables and transformer.
    """
    buses = [attrs for attrs in series.values() if "Vl" in attrs]
    slack = max(buses, key=lambda attrs: attrs["Vl"][0])["P"]  # the 20 kV bus
    loads = sum(a["P_out"] for a in entities_of(series, "House_").values())
    feed_in = sum(attrs["P"] for entity, attrs in series.items()
                  if "P" in attrs and not entity.startswith("Grid-"))
    return {"slack": slack, "loads": loads, "feed_in": feed_in,
            "losses": slack - (loads + feed_in)}


def physics_problems(hdf5_file: Path, steps: int) -> list[str]:
    """Everything physically implausible in a run of ``steps`` steps."""
    return problems_in(read_series(hdf5_file), steps)


def problems_in(series: dict, steps: int) -> list[str]:
    """:func:`physics_problems` of series already read (a grader has them)."""
    problems = []
    for entity, attrs in sorted(series.items()):
        for attr, values in sorted(attrs.items()):
            if values.shape != (steps,):
                problems.append(f"{entity}/{attr}: {values.shape[0]} steps, expected {steps}")
            elif not np.all(np.isfinite(values)):
                problems.append(f"{entity}/{attr}: NaN or infinite values "
                                f"from step {int(np.argmin(np.isfinite(values)))}")
        if "Vm" in attrs and attrs["Vm"].shape == (steps,):
            per_unit = attrs["Vm"] / attrs["Vl"]
            low, high = VOLTAGE_BAND
            if per_unit.min() < low or per_unit.max() > high:
                problems.append(f"{entity}: voltage {per_unit.min():.3f}–{per_unit.max():.3f} "
                                f"p.u. leaves the band {low}–{high} p.u.")
    if problems:
        return problems
    balance = power_balance(series)
    losses, through = balance["losses"], np.abs(balance["slack"])
    if losses.min() < -1.0:  # W; losses cannot be negative
        problems.append(f"power balance: slack bus supplies {-losses.min():.0f} W less "
                        "than loads minus PV at some step")
    if np.any(losses > MAX_LOSS_SHARE * through + 100.0):
        problems.append(f"power balance: losses exceed {MAX_LOSS_SHARE:.0%} of the "
                        "slack-bus power at some step")
    return problems


if __name__ == "__main__":
    path = Path(sys.argv[1])
    with h5py.File(path, "r") as db:
        steps = max(ds.shape[0] for g in db["Series"].values() for ds in g.values())
    found = physics_problems(path, steps)
    print("\n".join(found) or f"{path}: {steps} steps, physically plausible")
    sys.exit(1 if found else 0)
