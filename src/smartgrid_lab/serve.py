"""Serve one mosaik simulator class over TCP, for a simulator container.

    python -m smartgrid_lab.serve MODULE:CLASS [mosaik-api options] HOST:PORT

MODULE:CLASS is the same string a scenario's sim_config uses for running the
simulator in-process, so a container and a local run start the very same
class. One launcher for all stock simulators also sidesteps the broken
console scripts of mosaik-csv 2.0.1 and mosaik-householdsim 2.2.0.
The options are mosaik-api's own: ``--remote`` makes the simulator listen
and wait for the master (mosaik's ``connect`` start), ``--timeout`` bounds
that wait, ``--log-level`` sets the logging.
"""

import importlib
import sys

import mosaik_api_v3


def load_class(spec: str) -> type:
    """Import ``MODULE:CLASS``, the notation of mosaik's ``python`` starter."""
    module_name, _, class_name = spec.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def main(argv: list[str]) -> int:
    if not argv or ":" not in argv[0]:
        print(__doc__, file=sys.stderr)
        return 2
    spec, options = argv[0], argv[1:]
    simulator = load_class(spec)()
    sys.argv = [spec, *options]  # mosaik-api reads its options from sys.argv
    return mosaik_api_v3.start_simulation(simulator, f"mosaik simulator {spec}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
