"""Where a scenario's simulators run: in-process, or each in its own container.

A scenario names its simulators once, in a mosaik ``SIM_CONFIG`` of
``python`` entries. Run locally, that config is used as it is. Run in the
lab's containers, every simulator ``Name`` is reached at the Compose service
``name`` (lower case) on port 5555 instead. Nothing else differs, which is
what makes local and container runs comparable bit for bit.
"""

import asyncio
import time

from mosaik.exceptions import ConnectionClosedError, SimulationError, SimulatorConnectError
from mosaik.proxies import RemoteProxy
from mosaik.starters import ConnectStarter
from mosaik_api_v3.connection import Channel

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


class SimulatorLost(SimulationError):
    """A simulator container died, crashed or hangs in the middle of a call."""

    def __init__(self, sim_id: str, address: str, method: str, what: str):
        service = address.split(":")[0]
        super().__init__(f"simulator '{sim_id}' at {address} {what} during '{method}': "
                         f"see its log with `make logs SERVICE={service}`")


class AnsweringInTime(RemoteProxy):
    """mosaik's proxy for a simulator over TCP, with a bound on every call.

    A killed container often never closes its TCP connection (its network
    goes with it), so without a bound mosaik would wait for its answer forever.
    """

    def __init__(self, channel: Channel, mosaik_remote, address: str, timeout: float):
        super().__init__(channel, mosaik_remote)
        self.address, self.timeout = address, timeout

    async def send(self, request):
        sim_id, method = self._mosaik_remote.sid, request[0]
        closed = "closed the connection (it crashed or was killed)"
        if self._channel._reader.at_eof():  # gone already: nobody would ever answer
            raise SimulatorLost(sim_id, self.address, method, closed)
        try:
            return await asyncio.wait_for(super().send(request), self.timeout)
        except TimeoutError:
            what = (f"did not answer within {self.timeout:.0f} s (its container died or it "
                    "hangs; a slow simulator needs a longer LAB_CALL_TIMEOUT)")
            raise SimulatorLost(sim_id, self.address, method, what) from None
        except (ConnectionError, ConnectionClosedError):
            raise SimulatorLost(sim_id, self.address, method, closed) from None

    async def stop(self):
        try:
            await super().stop()
        except ConnectionError:  # it is gone already; that was reported where it happened
            pass


class RetryingConnect(ConnectStarter):
    """mosaik's ``connect`` start, retried while the simulator is not up yet.

    mosaik tries to connect once. A container that is still starting refuses
    the connection (or its name does not resolve yet); neither consumes the
    simulator's single connection, so trying again with a bounded back-off is
    safe and removes the start-up race. Once connected, every call to the
    simulator must be answered within ``call_timeout`` seconds.
    """

    def __init__(self, host: str, port: int = SIMULATOR_PORT, timeout: float = 60.0,
                 call_timeout: float = 120.0):
        super().__init__(host, port)
        self.timeout, self.call_timeout = timeout, call_timeout

    async def start(self, sim_id, mosaik_remote, mosaik_config):
        address = f"{self.host}:{self.port}"
        started = time.monotonic()
        delay = 0.1
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                channel = Channel(reader, writer, name=sim_id)
                return AnsweringInTime(channel, mosaik_remote, address, self.call_timeout)
            except OSError:  # refused, or the service name does not resolve yet
                waited = time.monotonic() - started
                if waited >= self.timeout:
                    raise SimulatorNeverCameUp(sim_id, self.host, self.port, waited)
                await asyncio.sleep(min(delay, self.timeout - waited))
                delay = min(delay * 2, 2.0)


def in_containers(sim_config: dict, timeout: float = 60.0, call_timeout: float = 120.0) -> dict:
    """The same simulators, each reached at its Compose service over TCP."""
    return {name: RetryingConnect(name.lower(), timeout=timeout, call_timeout=call_timeout)
            for name in sim_config}
