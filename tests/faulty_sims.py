"""Simulators that fail on purpose, for the fault tests.

``FailsOnCue`` makes a simulator fail in the API call named by
``$LAB_FAULT_CALL`` (init, create, setup_done, step or get_data) once the
simulated time reaches ``$LAB_FAULT_AT`` seconds: it raises
(``$LAB_FAULT_HOW=raise``) or ends its process (``exit``). The same classes
run in-process (``--swap``) and in a container (an image built from
tests/broken_sims/faulty), configured by the same variables.
"""

import os

from mosaik_components.household.mosaik import Simulator as StockHouseholds
from mosaik_csv import CSV

from smartgrid_lab.simulators import load_class

StudentPV = load_class("exercises/model/starter/simulator.py:Simulator")  # what students start from

FAIL_AT = 3 * 60 * 60  # simulated seconds: 03:00


class FailsOnCue:
    """Fails as the ``LAB_FAULT_*`` variables say; otherwise the simulator it extends."""

    now = 0

    def fail_if_cued(self, call: str) -> None:
        cued = os.environ.get("LAB_FAULT_CALL")
        if call != cued or self.now < int(os.environ.get("LAB_FAULT_AT", "0")):
            return
        if os.environ.get("LAB_FAULT_HOW", "raise") == "exit":
            os._exit(3)
        raise RuntimeError(f"injected fault in {call} at {self.now} s")

    def init(self, sid, time_resolution=1.0, **params):
        self.fail_if_cued("init")
        return super().init(sid, time_resolution, **params)

    def create(self, num, model, **params):
        self.fail_if_cued("create")
        return super().create(num, model, **params)

    def setup_done(self):
        self.fail_if_cued("setup_done")
        return super().setup_done()

    def step(self, time, inputs, max_advance):
        self.now = time
        self.fail_if_cued("step")
        return super().step(time, inputs, max_advance)

    def get_data(self, outputs):
        self.fail_if_cued("get_data")
        return super().get_data(outputs)


class FaultyStudentPV(FailsOnCue, StudentPV):
    """A student's PV simulator (the template) with a bug."""


class FaultyHouseholds(FailsOnCue, StockHouseholds):
    """The stock household simulator, failing."""


class CrashingPV(CSV):
    """The stock PV simulator, until it crashes at 03:00."""

    def step(self, time, inputs, max_advance):
        if time >= FAIL_AT:
            raise RuntimeError("PV inverter firmware crashed")
        return super().step(time, inputs, max_advance)
