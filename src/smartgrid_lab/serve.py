"""Serve one mosaik simulator class over TCP, for a simulator container.

    python -m smartgrid_lab.serve MODULE:CLASS [mosaik-api options] HOST:PORT

MODULE:CLASS is the same string a scenario's sim_config uses for running the
simulator in-process, so a container and a local run start the very same
class. One launcher for all stock simulators also sidesteps the broken
console scripts of mosaik-csv 2.0.1 and mosaik-householdsim 2.2.0.
The options are mosaik-api's own: ``--remote`` makes the simulator listen
and wait for the master (mosaik's ``connect`` start), ``--timeout`` bounds
that wait, ``--log-level`` sets the logging.

mosaik-api 3.0 answers an exception in any call with the exception, except in
``init``: there it lets the process die, and the master only sees a closed
connection. :func:`init_answering_errors` makes ``init`` answer like the rest,
so a student's bug in ``init`` is reported with its message and line, and
adds the container's numeric environment to the answer for the manifest (the
master takes it out again before mosaik sees the simulator's meta).
"""

import sys

import mosaik_api_v3

from smartgrid_lab import numeric
from smartgrid_lab.simulators import load_class


async def init_answering_errors(channel, simulator, *, api_compliant: bool) -> None:
    """mosaik-api's ``init`` handshake, answering an exception instead of dying."""
    request = await channel.next_request()
    method, args, kwargs = request.content
    assert method == "init"
    simulator.time_resolution = kwargs["time_resolution"]
    if not api_compliant:
        kwargs.pop("time_resolution")
    try:
        answer = await mosaik_api_v3.get_wrapper(simulator.init)(*args, **kwargs)
    except Exception as error:
        await request.set_exception(error)  # reads the traceback from sys.exc_info()
        raise
    await request.set_result({**answer, numeric.META_KEY: numeric.report()})


def main(argv: list[str]) -> int:
    numeric.ensure()
    if not argv or ":" not in argv[0]:
        print(__doc__, file=sys.stderr)
        return 2
    spec, options = argv[0], argv[1:]
    simulator = load_class(spec)()
    sys.argv = [spec, *options]  # mosaik-api reads its options from sys.argv
    mosaik_api_v3.init = init_answering_errors  # run_simulator looks it up at each run
    return mosaik_api_v3.start_simulation(simulator, f"mosaik simulator {spec}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
