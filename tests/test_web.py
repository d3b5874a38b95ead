"""The visualiser shows a whole run to a browser that only opens it afterwards.

A small real mosaik world (mosaik's example simulator: ``A`` entities count
up, ``B`` entities echo an ``A``) runs one day in 1-minute steps into
:class:`smartgrid_lab.web.Visualiser`; only after the run do a headless
Chromium and a plain websocket client look at it.  The last test runs the
visualiser as the service the containers use (``python -m
smartgrid_lab.web``).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import mosaik
import pytest
from websockets.sync.client import connect as ws_connect

from browser import open_page
from smartgrid_lab.simulators import RetryingConnect

SRC = Path(__file__).resolve().parents[1] / "src"
STEP = 60  # seconds
UNTIL = 24 * 3600  # one day
STEPS = UNTIL // STEP
A_INITS = [0, 30_000, 60_000]  # one ExampleSim "A" entity each
N_B = 2  # "B" entities, each fed by one A
ETYPES = {  # the mosaik demo's format
    "A": {"cls": "gen", "attr": "val_out", "unit": "val_out", "default": 0,
          "min": 0, "max": 150_000},
    "B": {"cls": "load", "attr": "val_out", "unit": "val_out", "default": 0,
          "min": 0, "max": 150_000},
}


def a_value(init, step):
    """ExampleSim's model A counts up by one per second: its val_out as the
    visualiser sees it at step number *step* (0-based)."""
    return init + STEP * (step + 1)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def build_scenario(world, vis_start):
    """ExampleSim entities connected to the visualiser's Topology; return
    {entity full id: its initial value} for the entities shown."""
    sim_a = world.start("ExampleSim", step_size=STEP)
    sim_b = world.start("ExampleSim", step_size=STEP)  # B after A: no cycle
    vis = vis_start()
    vis.set_etypes(ETYPES)
    topology = vis.Topology()
    a_entities = [sim_a.A.create(1, init_val=init)[0] for init in A_INITS]
    b_entities = sim_b.B.create(N_B, init_val=0)
    for a, b in zip(a_entities, b_entities):
        world.connect(a, b, ("val_out", "val_in"))
    for entity in a_entities + b_entities:
        world.connect(entity, topology, "val_out")
    inits = {a.full_id: init for a, init in zip(a_entities, A_INITS)}
    inits.update({b.full_id: init for b, init in zip(b_entities, A_INITS)})
    return inits


def expected_history(inits):
    return [{eid: {"value": a_value(init, step)} for eid, init in inits.items()}
            for step in range(STEPS)]


@contextmanager
def serving_after_run(world):
    """mosaik's World only runs its event loop inside its own calls; run it
    in a thread so the in-process web server goes on serving after the run."""
    loop = world.loop
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        world.shutdown()  # finalize() closes the web server


@pytest.fixture(scope="module")
def finished_run():
    """An in-process world that has run to completion; its visualiser keeps
    serving on a free port for the tests of this module."""
    (port,) = free_ports(1)
    world = mosaik.World(
        {"ExampleSim": {"python": "example_sim.mosaik:ExampleSim"},
         "WebVis": {"python": "smartgrid_lab.web:Visualiser"}},
        skip_greetings=True, configure_logging=False)
    inits = build_scenario(world, lambda: world.start(
        "WebVis", start_date="2014-01-01 00:00:00", step_size=STEP,
        serve_addr=f"127.0.0.1:{port}"))
    world.run(until=UNTIL, print_progress=False, shutdown=False)
    with serving_after_run(world):
        yield f"127.0.0.1:{port}", inits


def fetch_run(addr):
    """Ask the visualiser like the page does; return (topology, updates
    received within a second)."""
    with ws_connect(f"ws://{addr}/websocket", open_timeout=5) as ws:
        ws.send("get_topology")
        kind, topology = json.loads(ws.recv(timeout=5))
        assert kind == "setup_topology"
        updates = []
        try:
            while True:
                kind, update = json.loads(ws.recv(timeout=1))
                assert kind == "update_data"
                updates.append(update)
        except TimeoutError:
            return topology, updates


def watch_run(addr, result):
    """Like a page opened before mosaik connected: collect the live updates
    until the whole run has arrived (in a thread; errors go to *result*)."""
    try:
        with ws_connect(f"ws://{addr}/websocket", open_timeout=5) as ws:
            ws.send("get_topology")
            assert json.loads(ws.recv(timeout=30))[0] == "setup_topology"
            history = []
            while len(history) < STEPS:
                kind, update = json.loads(ws.recv(timeout=30))
                history += update["node_data"]
            result["history"] = history
    except Exception as exc:  # noqa: BLE001 - reported by the test
        result["error"] = repr(exc)


def assert_complete_replay(topology, updates, inits):
    assert sorted(node["name"] for node in topology["nodes"]) == sorted(inits)
    assert len(topology["links"]) == N_B  # A -> B; the Topology node is dropped
    assert len(updates) == 1, "the history must come as one replay message"
    (replay,) = updates
    assert len(replay["node_data"]) == STEPS
    assert replay["node_data"] == expected_history(inits)
    assert replay["time"] == UNTIL - STEP
    assert replay["progress"] > 99


def test_late_websocket_client_gets_topology_and_whole_run(finished_run):
    addr, inits = finished_run
    assert_complete_replay(*fetch_run(addr), inits)
    # and again: the history is kept for every newcomer
    assert_complete_replay(*fetch_run(addr), inits)


@pytest.mark.browser
def test_page_opened_after_run_shows_the_whole_run(finished_run, tmp_path):
    addr, inits = finished_run
    with open_page(f"http://{addr}/") as (page, problems):
        nodes = page.locator("#topology circle.node")
        nodes.first.wait_for()
        assert nodes.count() == len(inits)
        assert page.locator("#topology line.link").count() == N_B
        # the replay reached the heatmap: every node holds its final value
        page.wait_for_function("""() => d3.selectAll('#topology .node').data()
                                         .every(n => n.value > 0)""")
        final = dict(page.evaluate(
            "d3.selectAll('#topology .node').data().map(n => [n.name, n.value])"))
        assert final == {eid: a_value(init, STEPS - 1)
                         for eid, init in inits.items()}
        fills = nodes.evaluate_all("els => els.map(e => e.style.fill)")
        assert all(fill.startswith("rgb(") for fill in fills), fills
        assert len(set(fills)) == len(A_INITS)  # B echoes A: same colours
        # ... and the progress bar: (nearly) full width
        page.wait_for_function("""() => document.getElementById('progress')
            .getBoundingClientRect().width >
              0.99 * document.documentElement.getBoundingClientRect().width""")

        # the timeline of a node holds the whole day, in order
        name = sorted(inits)[-1]  # the second B entity
        nodes.filter(has_text=name).dispatch_event("click")
        page.locator("#timeline .line").wait_for(state="attached")
        line = page.evaluate("d3.select('#timeline .line').datum()")
        day = [value for value in line if value is not None]
        assert day == [a_value(inits[name], step) for step in range(STEPS)]
        assert page.locator("#timeline .label").first.text_content() == name

        page.wait_for_timeout(1500)  # let the force layout settle a bit
        page.screenshot(path=tmp_path / "web.png")
        assert problems == []


def test_service_serves_the_run_after_mosaik_left_until_sigterm():
    mosaik_port, web_port = free_ports(2)
    web = f"127.0.0.1:{web_port}"
    pythonpath = [str(SRC), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, pythonpath))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartgrid_lab.web",
         "-r", f"127.0.0.1:{mosaik_port}", "-s", web], env=env)
    try:
        # the page is up before mosaik connects (polling the *web* port is
        # fine; the mosaik port takes exactly one connection)
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://{web}/", timeout=1) as resp:
                    assert resp.status == 200
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)

        # a browser that is there from the start gets every step, once
        early = {}
        watcher = threading.Thread(target=watch_run, args=(web, early))
        watcher.start()

        world = mosaik.World(
            {"ExampleSim": {"python": "example_sim.mosaik:ExampleSim"},
             "WebVis": RetryingConnect("127.0.0.1", mosaik_port, timeout=5)},
            skip_greetings=True, configure_logging=False)
        inits = build_scenario(world, lambda: world.start(
            "WebVis", start_date="2014-01-01 00:00:00", step_size=STEP))
        world.run(until=UNTIL, print_progress=False)  # mosaik disconnects

        time.sleep(1)
        assert proc.poll() is None, "the service must outlive the mosaik run"
        with urllib.request.urlopen(f"http://{web}/", timeout=5) as resp:
            assert resp.status == 200
            assert b'<svg id="canvas">' in resp.read()
        assert_complete_replay(*fetch_run(web), inits)
        watcher.join(10)
        assert early.get("history") == expected_history(inits), early.get("error")

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
