"""The master's retrying connect: waits for a late simulator, gives up clearly."""

import signal
import subprocess
import sys
import time

import mosaik
import pytest

from conftest import REPO, free_port
from smartgrid_lab.simulators import (RetryingConnect, SimulatorLost, SimulatorNeverCameUp,
                                      in_containers)


def serve_csv_simulator_later(port: int, delay: float) -> subprocess.Popen:
    """A real mosaik-csv simulator in server mode, started after *delay* seconds."""
    return subprocess.Popen(
        [sys.executable, "-c",
         f"import time, sys; time.sleep({delay}); sys.argv[1:] = "
         f"['mosaik_csv:CSV', '--remote', '127.0.0.1:{port}', '--timeout', '30'];"
         "from smartgrid_lab.serve import main; sys.exit(main(sys.argv[1:]))"],
        cwd=REPO, env={"PYTHONPATH": str(REPO / "src")},
    )


def world_with_pv(port: int, **timeouts):
    """A world and a started PV simulator reached at *port* on loopback."""
    world = mosaik.World({"PV": RetryingConnect("127.0.0.1", port, **timeouts)},
                         skip_greetings=True)
    pv_sim = world.start("PV", sim_start="2025-06-21 00:00:00",
                         datafile=str(REPO / "data" / "pv.csv"))
    return world, pv_sim


def test_connects_to_a_simulator_that_comes_up_late():
    port = free_port()
    simulator = serve_csv_simulator_later(port, delay=1.5)
    try:
        started = time.monotonic()
        world, pv_sim = world_with_pv(port, timeout=20)
        assert time.monotonic() - started >= 1.0  # it really had to wait
        assert pv_sim.PV.create(2)
        world.shutdown()
        assert simulator.wait(timeout=10) == 0
    finally:
        simulator.kill()


def test_gives_up_after_the_timeout_naming_the_simulator():
    port = free_port()
    world = mosaik.World({"Grid": RetryingConnect("127.0.0.1", port, timeout=1.5)},
                         skip_greetings=True)
    started = time.monotonic()
    with pytest.raises(SimulatorNeverCameUp) as failure:
        world.start("Grid")
    assert 1.5 <= time.monotonic() - started < 5
    message = str(failure.value)
    assert "'Grid-0' never came up" in message
    assert f"127.0.0.1:{port}" in message
    world.shutdown()


def test_container_addresses_are_the_lower_case_service_names():
    config = in_containers({"Grid": {"python": "x:Y"}, "PV": {"python": "x:Z"}}, timeout=7)
    assert {name: (s.host, s.port, s.timeout) for name, s in config.items()} == {
        "Grid": ("grid", 5555, 7), "PV": ("pv", 5555, 7)}


def test_a_simulator_server_accepts_only_one_connection():
    """Why readiness probes must not connect (see smartgrid_lab.listening)."""
    port = free_port()
    simulator = serve_csv_simulator_later(port, delay=0)
    try:
        world, _ = world_with_pv(port, timeout=20)
        second = mosaik.World({"PV": RetryingConnect("127.0.0.1", port, timeout=1)},
                              skip_greetings=True)
        with pytest.raises(SimulatorNeverCameUp):
            second.start("PV")
        second.shutdown()
        world.shutdown()
    finally:
        simulator.kill()


@pytest.mark.parametrize("fault, expected", [
    (signal.SIGKILL, "closed the connection"),  # crashed or killed
    (signal.SIGSTOP, "did not answer within 2 s"),  # hangs
])
def test_a_simulator_lost_mid_run_is_named(fault, expected):
    port = free_port()
    simulator = serve_csv_simulator_later(port, delay=0)
    try:
        world, pv_sim = world_with_pv(port, timeout=20, call_timeout=2)
        pv_sim.PV.create(1)
        simulator.send_signal(fault)
        time.sleep(0.5)
        started = time.monotonic()
        with pytest.raises(SimulatorLost) as failure:
            world.run(until=3600)
        assert time.monotonic() - started < 10
        assert f"simulator 'PV-0' at 127.0.0.1:{port} {expected}" in str(failure.value)
    finally:
        simulator.kill()
