"""mosaik-web, but the page shows the whole run to whoever opens it, whenever.

Upstream mosaik-web only pushes live updates to browsers that are already
connected, and in server mode (one container per simulator) its process exits
when mosaik disconnects, so a page opened late, or after the run, shows
nothing.  This thin layer over it

* keeps every ``update_data`` payload and sends a browser that connects late
  the topology, then one ``update_data`` message with the whole history so
  far (all ``node_data`` in order), then the live updates;
* when run as a service (``python -m smartgrid_lab.web``, same command line
  as ``mosaik-web``), serves the page from the start, before mosaik connects,
  and keeps serving it with the complete run after mosaik has disconnected,
  until SIGTERM/SIGINT; then it exits 0.

It also adds the lab's panel beside the topology (``page/lab.js``, drawn with
the d3 that mosaik-web already serves): the simulated clock, the run's
progress and speed, a voltage colour scale in p.u. with the band, out-of-band
nodes ringed, curves of the day and, if it failed, the run's error.  The
panel has its own websocket (``/lab-websocket``): one summary per step,
computed here from the values the topology receives, and the run's outcome,
which the runner reports through the extra method ``set_outcome``; and,
for an exercise, its objectives' KPIs so far, computed here every few steps
from what the run records (the runner connects that to the page too).  It
lists the finished runs in ``results/`` from their manifests
(``/lab/runs.json``) and serves any of them for replay, read back from its
HDF5 file (``/lab/replay/<run id>``; see :mod:`smartgrid_lab.page_data`).

In-process use: sim_config ``{"python": "smartgrid_lab.web:Visualiser"}`` and
``world.start("WebVis", start_date=..., step_size=...,
serve_addr="127.0.0.1:8000")``; there the page lives as long as the world.
"""

import asyncio
import json
import mimetypes
import signal
import sys
from http import HTTPStatus
from pathlib import Path
from time import monotonic

import arrow
import mosaik_api_v3
from dateutil import tz
from mosaik_components.web.mosaik import DATE_FORMAT, default_config
from mosaik_components.web.mosaik import Simulator as MosaikWeb
from mosaik_webvis_server import UPDATE_INTERVAL, Server
from websockets.exceptions import ConnectionClosed

from smartgrid_lab import exercises, numeric, page_data
from smartgrid_lab.page_data import past_runs, summarise

DESCRIPTION = "Smart Grid Lab visualiser (mosaik-web with replay)"
DEFAULT_SERVE_ADDR = "127.0.0.1:8000"
PANEL = Path(__file__).with_name("page")  # the lab's panel, served under /lab/
RESULTS = Path(__file__).resolve().parents[2] / "results"  # one folder per run
# Upstream files, patched as they are served: {path: [(old text, new text), ...]}.
PATCHES = {
    "/media/mosaik.js": [
        # Upstream's timeline plots a ring buffer of timeline_hours worth of
        # steps that starts out all null, and one null turns the whole SVG
        # path into "M0,NaN…", which draws nothing: until the buffer is full
        # (so in any run shorter than that) the timeline stays empty.
        ("d3.line()", "d3.line().defined(function(d) { return d !== null; })"),
        # The topology gets the width lab.css leaves it beside the panel.
        ("var width = window.innerWidth;",
         "var width = document.getElementById('canvas').getBoundingClientRect().width;"),
    ],
    "/index.html": [
        # The lab runs offline: no web font from a CDN (a console error and a
        # third-party request otherwise; the page falls back to sans-serif),
        # and an empty icon instead of a 404 for /favicon.ico.
        ('<link rel="stylesheet" href="//brick.a.ssl.fastly.net/Open+Sans:300,400">',
         '<link rel="icon" href="data:,">'),
        ('<link rel="stylesheet" href="/media/main.css">',
         '<link rel="stylesheet" href="/media/main.css">\n'
         '<link rel="stylesheet" href="/lab/lab.css">'),
        ('<script src="/media/mosaik.js" type="text/javascript"></script>',
         '<script src="/media/mosaik.js" type="text/javascript"></script>\n'
         '<script src="/lab/lab.js" type="text/javascript"></script>'),
    ],
}
EXTRA_OPTS = [
    "-s HOST:PORT, --serve=HOST:PORT",
    f"            Host and port for the webserver [default: {DEFAULT_SERVE_ADDR}]",
]


class ReplayServer(Server):
    """mosaik-web's server, plus a history every new websocket client gets,
    and the lab panel's own websocket and files."""

    def __init__(self, server_addr, results=RESULTS):
        super().__init__(server_addr, ssl_filepaths=None)
        self.results = results  # listed at /lab/runs.json, replayed at /lab/replay/<run id>
        self.history = []  # every step's node_data, in order
        self.time = self.progress = None  # of the latest step
        self.steps = []  # every step's summary (see summarise), for the panel
        self.outcome = None  # how the run ended, once known (see Visualiser.set_outcome)
        self.changed = asyncio.Event()  # set (and replaced) when steps or outcome change
        self.first_step_at = None  # monotonic clock
        self.exercise, self.objectives = None, ()  # the run's (see set_exercise)
        self.observed = None  # what the run records, for the objectives (page_data.Observed)
        self.points = []  # each objective's KPI so far, every OBJECTIVES_EVERY steps
        self.pointed = 0  # steps observed at the latest point

    def set_exercise(self, exercise: str | None, step_seconds: int):
        """The run's exercise: the panel follows its objectives."""
        self.exercise, self.objectives = exercise, exercises.objectives_of(exercise)
        self.observed = page_data.Observed(step_seconds)

    def observe(self, inputs: dict):
        """One step's inputs; every OBJECTIVES_EVERY steps, the objectives so far."""
        if not self.objectives:
            return
        self.observed.add(inputs)
        if self.observed.steps % page_data.OBJECTIVES_EVERY == 0:
            self.add_objective_point()

    def add_objective_point(self):
        """The objectives over the steps observed so far, unless none is new."""
        if self.objectives and self.observed.steps > self.pointed:
            self.pointed = self.observed.steps
            self.points.append(page_data.objective_point(self.observed.data(), self.objectives))
            self.notify()

    def set_new_data(self, time, progress, node_data):
        super().set_new_data(time, progress, node_data)  # wakes the broadcaster
        self.history.append(node_data)
        self.time, self.progress = time, progress
        if self.first_step_at is None:
            self.first_step_at = monotonic()
        self.steps.append({"time": time, "progress": progress,
                           "wall": round(monotonic() - self.first_step_at, 3),
                           **summarise(self.topology, node_data)})
        self.notify()

    def set_outcome(self, outcome: dict):
        self.outcome = outcome
        self.add_objective_point()  # at the last step
        self.notify()

    def notify(self):
        """Wake every panel client waiting for news."""
        self.changed.set()
        self.changed = asyncio.Event()

    async def _handle_ws(self, ws):
        try:
            if ws.request.path == "/lab-websocket":
                await self._serve_panel(ws)
            elif await ws.recv() == "get_topology":
                await self._serve_topology(ws)
        except (ConnectionClosed, ConnectionError):
            pass

    async def _serve_topology(self, ws):
        # Each client has a cursor into the history: its first update_data is
        # the replay of everything so far, later ones carry only what is new.
        await self.topology_ready.wait()
        await ws.send(json.dumps(["setup_topology", self.topology]))
        sent = 0
        while True:
            if sent < len(self.history):
                update = {"time": self.time, "progress": self.progress,
                          "node_data": self.history[sent:]}
                sent = len(self.history)
                await ws.send(json.dumps(["update_data", update]))
            else:
                broadcast = asyncio.get_running_loop().create_future()
                self.wait_for_update.append(broadcast)  # resolved by _broadcast_update
                if not await unless_closed(ws, broadcast):
                    return

    async def _serve_panel(self, ws):
        """``setup`` (start date, step size, entity types, the exercise's
        objectives), then ``steps`` (summaries: all so far, later the new
        ones, at most every UPDATE_INTERVAL), ``points`` (the objectives'
        KPIs so far, likewise) and ``outcome`` once the runner reported it."""
        await self.topology_ready.wait()
        setup = {key: self.topology[key] for key in ("start_date", "update_interval", "etypes")}
        setup.update(exercise=self.exercise, objectives=page_data.describe(self.objectives))
        await ws.send(json.dumps(["setup", setup]))
        sent, points, outcome = 0, 0, None
        while True:
            if sent < len(self.steps) or points < len(self.points):
                steps, sent = self.steps[sent:], len(self.steps)
                new_points, points = self.points[points:], len(self.points)
                await ws.send(json.dumps(["steps", {"steps": steps, "points": new_points}]))
                await asyncio.sleep(UPDATE_INTERVAL)  # batch the steps of fast runs
            elif outcome != self.outcome:
                outcome = self.outcome
                await ws.send(json.dumps(["outcome", outcome]))
            elif not await unless_closed(ws, self.changed.wait()):
                return

    async def _intercept_http(self, connection, request):
        if request.path == "/lab-websocket":
            return None  # on to _handle_ws
        if request.path == "/lab/runs.json":
            response = connection.respond(HTTPStatus.OK, json.dumps(past_runs(self.results)))
            response.headers["Content-Type"] = "application/json"
            return response
        if request.path.startswith("/lab/replay/"):
            return await self._replay(connection, request.path.removeprefix("/lab/replay/"))
        if request.path.startswith("/lab/"):
            return self._panel_file(connection, request.path.removeprefix("/lab/"))
        response = await super()._intercept_http(connection, request)
        path = request.path + ("index.html" if request.path.endswith("/") else "")
        if path in PATCHES and response.status_code == 200:
            body = response.body.decode()
            for old, new in PATCHES[path]:
                body = body.replace(old, new)
            response.body = body.encode()
            del response.headers["Content-Length"]
            response.headers["Content-Length"] = str(len(response.body))
        return response

    async def _replay(self, connection, run_id):
        """A finished run of the results folder, for the page to replay (read
        in a thread: the live run goes on meanwhile)."""
        directory = page_data.run_directory(self.results, run_id)
        if directory is None or not self.topology_ready.is_set():
            return connection.respond(HTTPStatus.NOT_FOUND, f"No finished run {run_id!r}")
        try:
            replay = await asyncio.to_thread(page_data.replay, directory, self.topology)
        except (OSError, KeyError, ValueError) as error:
            return connection.respond(HTTPStatus.CONFLICT,
                                      f"Run {run_id!r} cannot be replayed: {error}")
        response = connection.respond(HTTPStatus.OK, json.dumps(replay))
        response.headers["Content-Type"] = "application/json"
        return response

    @staticmethod
    def _panel_file(connection, name):
        """A file of the panel's folder, by name only (no other path gets out)."""
        if name not in {path.name for path in PANEL.iterdir()}:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found")
        response = connection.respond(HTTPStatus.OK, (PANEL / name).read_text())
        response.headers["Content-Type"] = f"{mimetypes.guess_type(name)[0]}; charset=utf-8"
        return response

    async def _broadcast_update(self):
        self.broadcaster = asyncio.current_task()  # upstream keeps no handle
        await super()._broadcast_update()

    def stop(self):
        """Stop listening and broadcasting (done as the loop goes on)."""
        self.server.close()
        self.broadcaster.cancel()

    async def close(self):
        self.stop()
        await self.server.wait_closed()


async def unless_closed(ws, awaitable) -> bool:
    """Wait for *awaitable* or for the client to go away: True if the former.
    A future given is never cancelled (upstream resolves its futures blindly);
    a coroutine's task is."""
    waited = asyncio.ensure_future(awaitable)
    closed = asyncio.ensure_future(ws.wait_closed())
    await asyncio.wait({waited, closed}, return_when=asyncio.FIRST_COMPLETED)
    closed.cancel()
    if waited is not awaitable:
        waited.cancel()  # no-op if done
    return waited.done() and not waited.cancelled()


class Visualiser(MosaikWeb):
    """mosaik-web's ``Topology`` simulator, serving a :class:`ReplayServer`."""

    serve_after_run = False
    """If false, stop serving when mosaik finalizes us (in-process, the
    world's loop closes right after).  :func:`main` sets it: it serves on."""

    def __init__(self):
        super().__init__()
        self.meta = {**self.meta,
                     "extra_methods": [*self.meta["extra_methods"], "set_outcome"]}
        # upstream mutates one module-level dict shared by all instances
        self.config = {**default_config, "etypes": {}}

    async def serve(self, results=RESULTS):
        """Start the web server on :attr:`server_addr` (set by ``-s``); the
        panel lists the runs in *results*."""
        self.server = ReplayServer(self.server_addr, Path(results))
        await self.server.start()

    def init(self, sid, time_resolution=1.0, *, start_date, step_size,
             serve_addr=DEFAULT_SERVE_ADDR, results=RESULTS, exercise=None):
        """mosaik-web's ``init`` without SSL; the panel follows the
        objectives of *exercise* (an id) on what the run records (see
        runs.show_recorded).  In-process, the web server starts here, on
        *serve_addr* ("HOST:PORT"), and lists the runs in *results*; the
        service (:func:`main`) is already serving on ``-s`` and ignores both."""
        self.sid, self.step_size = sid, step_size
        self.time_resolution = float(time_resolution)
        dt = arrow.parser.DateTimeParser().parse(start_date, DATE_FORMAT)
        self.start_date = arrow.get(dt, tz.tzlocal()).isoformat()
        if self.server is None:
            self.server_addr = mosaik_api_v3._parse_addr(serve_addr)
            yield self.serve(results)
        self.server.set_exercise(exercise, step_size)
        return self.meta

    def setup_done(self):
        """The types of the entities whose values the objectives read."""
        related = yield self.mosaik.get_related_entities(None)
        self.server.observed.types = {eid: node["type"] for eid, node in related["nodes"].items()}

    def step(self, time, inputs, max_advance):
        self.server.observe(inputs.get(self.eid, {}))
        return (yield from super().step(time, inputs, max_advance))

    def set_outcome(self, status, error=None, simulated_seconds_reached=None):
        """How the run ended, for the page: ``status`` is "completed",
        "failed" or "interrupted"; ``error`` the runner's one-paragraph
        message.  The runner calls it (smartgrid_lab.runs) before shutdown,
        and records what it returns, the entity types the page showed, in
        the manifest: a replay draws the run with them."""
        self.server.set_outcome({"status": status, "error": error,
                                 "simulated_seconds_reached": simulated_seconds_reached})
        return self.config["etypes"]

    def finalize(self):
        if self.server is not None and self.server.outcome is None:
            self.server.set_outcome({"status": "ended"})  # nobody said how
        if self.server is not None and not self.serve_after_run:
            self.server.stop()

    async def close(self):
        if self.server is not None:
            await self.server.close()


async def main():
    """Serve the page (``-s``) from the start, let mosaik connect
    (``-r HOST:PORT``), and keep serving the complete run after mosaik has
    gone, until SIGTERM/SIGINT; then return 0."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    # --help and usage errors exit here rather than inside the task below
    args = mosaik_api_v3._parse_args(DESCRIPTION, EXTRA_OPTS)
    vis = Visualiser()
    vis.serve_after_run = True
    vis.configure(args)
    await vis.serve()
    run = asyncio.create_task(
        mosaik_api_v3.start_simulation_async(vis, DESCRIPTION, EXTRA_OPTS))
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({run, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if run.done():
        if rc := run.result():  # raises if e.g. mosaik never connected
            return rc
        print("mosaik run over; serving the page until SIGTERM", file=sys.stderr)
        await stopped
    run.cancel()
    await vis.close()
    return 0


if __name__ == "__main__":
    numeric.ensure()
    sys.exit(asyncio.run(main()))
