"""PV simulators with one typical mistake each; the lab must name it."""

import time as clock

import mosaik_api_v3


class ConstantPV(mosaik_api_v3.Simulator):
    """A PV contract done right: every system feeds in 1 kW, always."""

    attr = "P"

    def __init__(self):
        super().__init__({"type": "time-based", "models": {
            "PV": {"public": True, "params": [], "attrs": [self.attr]}}})
        self.eids = []

    def init(self, sid, time_resolution, sim_start, datafile):
        return self.meta

    def create(self, num, model):
        new = [f"{model}_{i}" for i in range(len(self.eids), len(self.eids) + num)]
        self.eids += new
        return [{"eid": eid, "type": model} for eid in new]

    def step(self, time, inputs, max_advance):
        return time + 60

    def get_data(self, outputs):
        return {eid: {self.attr: -1000.0} for eid in outputs}


class WrongAttr(ConstantPV):
    """Names its output `p`, where the scenario reads `P`."""

    attr = "p"


class WrongStepTime(ConstantPV):
    """step() returns the current time instead of the next."""

    def step(self, time, inputs, max_advance):
        return time  # should be time + 60


class CrashInGetData(ConstantPV):
    """get_data() looks up a power that step() never stored."""

    power = {}

    def get_data(self, outputs):
        return {eid: {"P": self.power[eid]} for eid in outputs}


class HangsInStep(ConstantPV):
    """step() never returns once the simulated day reaches 01:00."""

    def step(self, time, inputs, max_advance):
        while time >= 3600:
            clock.sleep(60)
        return super().step(time, inputs, max_advance)
