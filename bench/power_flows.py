"""One day of the lab grid's power flows (PYPOWER), in whatever numeric
environment this process was started with: `bench/lab.py --only numeric`
starts it twice (the shell's kernels, the lab's fixed ones) and compares."""

import json
import math
import time
from pathlib import Path

from mosaik_components.mosaik_pypower import model
from pypower import idx_bus

GRID = Path(__file__).resolve().parents[1] / "data" / "grid.json"
STEPS = 24 * 60

case, _ = model.load_case(str(GRID), 0, None)
started = time.process_time()
for minute in range(STEPS):
    model.reset_inputs(case)
    for bus in case["bus"][1:]:  # a smooth day of load on every bus but the slack
        bus[idx_bus.PD] = 0.002 * (1 + math.sin(2 * math.pi * minute / STEPS))
    model.perform_powerflow(case)
print(json.dumps({"cpu": time.process_time() - started}))
