"""Where a scenario's simulators run: in-process, or each in its own container.

A scenario names its simulators once, in a mosaik ``SIM_CONFIG`` of
``python`` entries. Run locally, every simulator is that class in this
process; run in the lab's containers, every simulator ``Name`` is reached at
the Compose service ``name`` (lower case) on port 5555 instead. Nothing else
differs, which is what makes local and container runs comparable bit for bit.

Either way, a simulator that fails in one of its calls ends the run with a
:class:`SimulatorError` naming the simulator, the call and the simulated time.
mosaik itself does not: when a simulator in another process raises, mosaik
3.7's ``World.run`` logs the error and returns as if the run had completed.
"""

import asyncio
import importlib
import importlib.util
import os
import re
import socket
import time
import traceback
from pathlib import Path

from mosaik.exceptions import ConnectionClosedError, SimulationError, SimulatorConnectError
from mosaik.proxies import LocalProxy, RemoteProxy
from mosaik.starters import ConnectStarter, PythonStarter
from mosaik_api_v3.connection import Channel, RemoteException

from smartgrid_lab import numeric

SIMULATOR_PORT = 5555
"""The port every simulator container listens on for the master."""

PEER_GONE_SECONDS = 10
"""How soon the master notices a simulator whose container vanished: a killed
container (or a failed host) never closes its TCP connection, so the kernel
must find out by itself (keepalive probes while idle, a bound on unanswered
sends otherwise) instead of the call timeout, which a slow but living
simulator may need to be long."""

FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')
FRAMEWORK = re.compile(r"/(mosaik|mosaik_api_v3|asyncio)/|/lib/python3\.\d+/(?!site-packages)")
"""Frames of mosaik, its API and Python's standard library: where a failure
passes through, not where it comes from."""


def origin(traceback_text: str) -> str | None:
    """``FILE:LINE`` where a simulator's exception comes from, from its traceback.

    The innermost frame outside installed packages (a student's simulator.py),
    else the innermost outside mosaik and the standard library (a stock
    simulator's package); ``None`` if the traceback names no such frame.
    """
    frames = [(path, line) for path, line, _ in FRAME.findall(traceback_text)
              if not FRAMEWORK.search(path)]
    own = [frame for frame in frames if "-packages/" not in frame[0]]
    path, line = (own or frames or [(None, None)])[-1]
    return f"{path}:{line}" if path else None


class SimulatorError(SimulationError):
    """A simulator ended the run early: it raised, exited, was killed or hangs.

    ``facts`` holds the same as the message, for the manifest and for grading.
    """

    def __init__(self, text: str, **facts):
        super().__init__(text)
        self.facts = facts


def clock(seconds: int) -> str:
    """Simulated seconds since the start as ``HH:MM``."""
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


class SimulatorFailed(SimulatorError):
    """A simulator raised an exception in one of its calls."""

    def __init__(self, sim_id: str, method: str, at: int, exception: str, message: str,
                 traceback_text: str, address: str | None = None):
        location = origin(traceback_text)
        place = f" at {address}" if address else ""
        source = f" ({os.path.basename(location)})" if location else ""
        super().__init__(
            f"simulator '{sim_id}'{place} raised {exception} in {method}() at simulated "
            f"time {clock(at)}: {message or '(no message)'}{source}",
            kind="exception", simulator=sim_id, call=method, simulated_time=at,
            exception=exception, message=message, location=location,
            traceback=traceback_text, address=address)


class SimulatorNeverCameUp(SimulatorConnectError):
    """A simulator service did not accept the master's connection in time."""

    def __init__(self, sim_id: str, host: str, port: int, waited: float):
        super().__init__(sim_id, host, port)
        self.waited = waited
        self.facts = dict(kind="never_came_up", simulator=sim_id, call="connect",
                          simulated_time=0, address=f"{host}:{port}")

    def __str__(self) -> str:
        return (
            f"simulator '{self.sim_id}' never came up: nothing accepted a connection "
            f"at {self.host}:{self.port} within {self.waited:.0f} s. Is its container "
            f"running and listening on port {self.port}? See its log with "
            f"`make logs SERVICE={self.host}`."
        )


class SimulatorLost(SimulatorError):
    """A simulator container died, crashed or hangs in the middle of a call."""

    def __init__(self, sim_id: str, address: str, method: str, at: int, kind: str, what: str):
        service = address.split(":")[0]
        super().__init__(
            f"simulator '{sim_id}' at {address} {what} during {method}() at simulated time "
            f"{clock(at)}: see its log with `make logs SERVICE={service}`",
            kind=kind, simulator=sim_id, call=method, simulated_time=at, address=address,
            message=what)


class TracksTime:
    """Remembers the simulated time of a simulator's last ``step``, for errors."""

    now = 0

    def note(self, request) -> tuple[str, str, int]:
        """``(sim id, method, simulated time)`` of a request about to be sent."""
        method, args = request[0], request[1]
        if method == "step":
            self.now = args[0]
        return self._mosaik_remote.sid, method, self.now


class InProcessProxy(TracksTime, LocalProxy):
    """mosaik's proxy for a simulator in this process, naming it when it fails."""

    def __init__(self, sim, mosaik_remote):
        super().__init__(sim, mosaik_remote)
        self._mosaik_remote = mosaik_remote

    async def send(self, request):
        sim_id, method, at = self.note(request)
        try:
            return await super().send(request)
        except Exception as error:
            raise SimulatorFailed(sim_id, method, at, type(error).__name__, str(error),
                                  "".join(traceback.format_exception(error))) from error


REPO = Path(__file__).resolve().parents[2]


def load_class(spec: str) -> type:
    """The class ``MODULE:CLASS`` names, mosaik's ``python`` notation; or
    ``FILE.py:CLASS``, a student's simulator file (relative to the repository)."""
    module_name, _, class_name = spec.rpartition(":")
    if module_name.endswith(".py"):
        path = REPO / module_name
        module_spec = importlib.util.spec_from_file_location(
            f"lab_sim_{abs(hash(str(path)))}", path)
        if module_spec is None or not path.is_file():
            raise FileNotFoundError(f"no simulator file {path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    return getattr(module, class_name)


class InProcess(PythonStarter):
    """mosaik's ``python`` start (``MODULE:CLASS`` in this process), naming a
    simulator that fails in one of its calls."""

    def __init__(self, spec: str):
        super().__init__(type(None))  # the class is imported when the run starts it
        self.spec = spec

    async def start(self, sim_id, mosaik_remote, mosaik_config):
        try:
            simulator = load_class(self.spec)()
        except Exception as error:
            raise SimulatorFailed(sim_id, "__init__", 0, type(error).__name__, str(error),
                                  "".join(traceback.format_exception(error))) from error
        return InProcessProxy(simulator, mosaik_remote)


class AnsweringInTime(TracksTime, RemoteProxy):
    """mosaik's proxy for a simulator over TCP, with a bound on every call.

    A killed container often never closes its TCP connection (its network
    goes with it), so without a bound mosaik would wait for its answer forever.
    A simulator that raises answers with its exception (mosaik's
    ``RemoteException``), which becomes a :class:`SimulatorFailed`.
    The lab's simulators add their numeric environment to their ``init``
    answer; it goes into ``numeric_reports``, not to mosaik.
    """

    def __init__(self, channel: Channel, mosaik_remote, address: str, timeout: float,
                 numeric_reports: dict):
        super().__init__(channel, mosaik_remote)
        self.address, self.timeout = address, timeout
        self.numeric_reports = numeric_reports

    async def send(self, request):
        sim_id, method, at = self.note(request)
        closed = "closed the connection (it exited, crashed or was killed)"
        if self._channel._reader.at_eof():  # gone already: nobody would ever answer
            raise SimulatorLost(sim_id, self.address, method, at, "lost", closed)
        try:
            answer = await self.answer_or_loss(super().send(request))
        except RemoteException as error:
            raise SimulatorFailed(sim_id, method, at, error.remote_type, error.remote_msg,
                                  "".join(error.further_args), self.address) from None
        except TimeoutError as error:
            if error.errno:  # the kernel's ETIMEDOUT: the peer vanished (notice_vanishing)
                what = (f"vanished (its connection went dead: no answer to the kernel's probes "
                        f"for {PEER_GONE_SECONDS} s; its container was killed or its host is gone)")
                raise SimulatorLost(sim_id, self.address, method, at, "lost", what) from None
            what = (f"did not answer within {self.timeout:.0f} s (its container died or it "
                    "hangs; a slow simulator needs a longer LAB_CALL_TIMEOUT)")
            raise SimulatorLost(sim_id, self.address, method, at, "timeout", what) from None
        except (ConnectionError, ConnectionClosedError):
            raise SimulatorLost(sim_id, self.address, method, at, "lost", closed) from None
        if method == "init" and numeric.META_KEY in answer:
            self.numeric_reports[sim_id] = answer.pop(numeric.META_KEY)
        return answer

    async def answer_or_loss(self, sending):
        """The simulator's answer; or why the connection died while waiting for it
        (mosaik-api's reader task ends on a dead connection without failing the
        calls it waits for); or a TimeoutError after the call timeout."""
        answer = asyncio.ensure_future(sending)
        receiver = self._channel._receiver_task
        done, _ = await asyncio.wait({answer, receiver}, timeout=self.timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if answer in done:
            return answer.result()
        answer.cancel()
        if receiver not in done:
            raise TimeoutError
        if not receiver.cancelled() and receiver.exception():
            raise receiver.exception()
        raise ConnectionError("the simulator closed the connection")

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
    simulator must be answered within ``call_timeout`` seconds. ``numeric``
    collects each started simulator's numeric environment, by simulator id.
    """

    def __init__(self, host: str, port: int = SIMULATOR_PORT, timeout: float = 60.0,
                 call_timeout: float = 120.0):
        super().__init__(host, port)
        self.timeout, self.call_timeout = timeout, call_timeout
        self.numeric = {}

    async def start(self, sim_id, mosaik_remote, mosaik_config):
        address = f"{self.host}:{self.port}"
        started = time.monotonic()
        delay = 0.1
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                notice_vanishing(writer.get_extra_info("socket"))
                channel = Channel(reader, writer, name=sim_id)
                return AnsweringInTime(channel, mosaik_remote, address, self.call_timeout,
                                       self.numeric)
            except OSError:  # refused, or the service name does not resolve yet
                waited = time.monotonic() - started
                if waited >= self.timeout:
                    raise SimulatorNeverCameUp(sim_id, self.host, self.port, waited)
                await asyncio.sleep(min(delay, self.timeout - waited))
                delay = min(delay * 2, 2.0)


def notice_vanishing(sock) -> None:
    """Make the kernel give up on a vanished peer within PEER_GONE_SECONDS."""
    idle, interval, probes = 2, 2, (PEER_GONE_SECONDS - 2) // 2
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, probes)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, PEER_GONE_SECONDS * 1000)


def in_process(sim_config: dict) -> dict:
    """The scenario's simulators, each started in this process."""
    return {name: InProcess(entry["python"]) for name, entry in sim_config.items()}


def in_containers(sim_config: dict, timeout: float = 60.0, call_timeout: float = 120.0) -> dict:
    """The same simulators, each reached at its Compose service over TCP."""
    return {name: RetryingConnect(name.lower(), timeout=timeout, call_timeout=call_timeout)
            for name in sim_config}
