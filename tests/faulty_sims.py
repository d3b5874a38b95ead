"""Simulators that fail on purpose, for the fault tests (swapped in with --swap)."""

from mosaik_csv import CSV

FAIL_AT = 3 * 60 * 60  # simulated seconds: 03:00


class CrashingPV(CSV):
    """The stock PV simulator, until it crashes at 03:00."""

    def step(self, time, inputs, max_advance):
        if time >= FAIL_AT:
            raise RuntimeError("PV inverter firmware crashed")
        return super().step(time, inputs, max_advance)

