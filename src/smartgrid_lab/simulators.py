"""Where a scenario's simulators run: in-process, or each in its own container.

A scenario names its simulators once, in a mosaik ``SIM_CONFIG`` of
``python`` entries. Run locally, that config is used as it is. Run in the
lab's containers, every simulator ``Name`` is reached at the Compose service
``name`` (lower case) on port 5555 instead. Nothing else differs, which is
what makes local and container runs comparable bit for bit.
"""

import asyncio
import time

from mosaik.exceptions import SimulatorConnectError
from mosaik.starters import ConnectStarter

SIMULATOR_PORT = 5555
"""The port every simulator container listens on for the master."""


class SimulatorNeverCameUp(SimulatorConnectError):
    """A simulator service did not accept the master's connection in time."""

    def __init__(self, sim_id: str, host: str, port: int, waited: float):
        super().__init__(sim_id, host, port)
        self.waited = waited

    def __str__(self) -> str:
        return (
            f"simulator '{self.sim_id}' never came up: nothing accepted a connection "
            f"at {self.host}:{self.port} within {self.waited:.0f} s. Is its container "
            f"running and listening on port {self.port}? See its log with "
            f"`make logs SERVICE={self.host}`."
        )


class RetryingConnect(ConnectStarter):
    """mosaik's ``connect`` start, retried while the simulator is not up yet.

    mosaik tries to connect once. A container that is still starting refuses
    the connection (or its name does not resolve yet); neither consumes the
    simulator's single connection, so trying again with a bounded back-off is
    safe and removes the start-up race.
    """

    def __init__(self, host: str, port: int = SIMULATOR_PORT, timeout: float = 60.0):
        super().__init__(host, port)
        self.timeout = timeout

    async def start(self, sim_id, mosaik_remote, mosaik_config):
        started = time.monotonic()
        delay = 0.1
        while True:
            try:
                return await super().start(sim_id, mosaik_remote, mosaik_config)
            except SimulatorConnectError:
                waited = time.monotonic() - started
                if waited >= self.timeout:
                    raise SimulatorNeverCameUp(sim_id, self.host, self.port, waited)
                await asyncio.sleep(min(delay, self.timeout - waited))
                delay = min(delay * 2, 2.0)


def in_containers(sim_config: dict, timeout: float = 60.0) -> dict:
    """The same simulators, each reached at its Compose service over TCP."""
    return {name: RetryingConnect(name.lower(), timeout=timeout) for name in sim_config}
