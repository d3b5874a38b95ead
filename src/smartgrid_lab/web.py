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

In-process use: sim_config ``{"python": "smartgrid_lab.web:Visualiser"}`` and
``world.start("WebVis", start_date=..., step_size=...,
serve_addr="127.0.0.1:8000")``; there the page lives as long as the world.
"""

import asyncio
import json
import signal
import sys

import arrow
import mosaik_api_v3
from dateutil import tz
from mosaik_components.web.mosaik import DATE_FORMAT, default_config
from mosaik_components.web.mosaik import Simulator as MosaikWeb
from mosaik_webvis_server import Server
from websockets.exceptions import ConnectionClosed

from smartgrid_lab import numeric

DESCRIPTION = "Smart Grid Lab visualiser (mosaik-web with replay)"
DEFAULT_SERVE_ADDR = "127.0.0.1:8000"
# Upstream files, patched as they are served: {path: (old text, new text)}.
PATCHES = {
    # Upstream's timeline plots a ring buffer of timeline_hours worth of steps
    # that starts out all null, and one null turns the whole SVG path into
    # "M0,NaN…", which draws nothing: until the buffer is full (so in any run
    # shorter than that) the timeline stays empty.
    "/media/mosaik.js": ("d3.line()", "d3.line().defined(function(d) { return d !== null; })"),
    # The lab runs offline: no web font from a CDN (a console error and a
    # third-party request otherwise; the page falls back to sans-serif), and
    # an empty icon instead of a 404 for /favicon.ico.
    "/index.html": ('<link rel="stylesheet" href="//brick.a.ssl.fastly.net/Open+Sans:300,400">',
                    '<link rel="icon" href="data:,">'),
}
EXTRA_OPTS = [
    "-s HOST:PORT, --serve=HOST:PORT",
    f"            Host and port for the webserver [default: {DEFAULT_SERVE_ADDR}]",
]


class ReplayServer(Server):
    """mosaik-web's server, plus a history every new websocket client gets."""

    def __init__(self, server_addr):
        super().__init__(server_addr, ssl_filepaths=None)
        self.history = []  # every step's node_data, in order
        self.time = self.progress = None  # of the latest step

    def set_new_data(self, time, progress, node_data):
        super().set_new_data(time, progress, node_data)  # wakes the broadcaster
        self.history.append(node_data)
        self.time, self.progress = time, progress

    async def _handle_ws(self, ws):
        # Each client has a cursor into the history: its first update_data is
        # the replay of everything so far, later ones carry only what is new.
        try:
            if await ws.recv() != "get_topology":
                return
            await self.topology_ready.wait()
            await ws.send(json.dumps(["setup_topology", self.topology]))
            sent = 0
            while True:
                if sent < len(self.history):
                    update = {"time": self.time, "progress": self.progress,
                              "node_data": self.history[sent:]}
                    sent = len(self.history)
                    await ws.send(json.dumps(["update_data", update]))
                elif not await self._next_broadcast(ws):
                    return
        except (ConnectionClosed, ConnectionError):
            pass

    async def _next_broadcast(self, ws):
        """Wait for upstream's broadcaster to announce new data: True, or for
        the client to go away: False."""
        broadcast = asyncio.get_running_loop().create_future()
        self.wait_for_update.append(broadcast)  # resolved by _broadcast_update
        closed = asyncio.ensure_future(ws.wait_closed())
        await asyncio.wait({broadcast, closed}, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        return broadcast.done()

    async def _intercept_http(self, connection, request):
        response = await super()._intercept_http(connection, request)
        path = request.path + ("index.html" if request.path.endswith("/") else "")
        if path in PATCHES and response.status_code == 200:
            old, new = PATCHES[path]
            response.body = response.body.decode().replace(old, new).encode()
            del response.headers["Content-Length"]
            response.headers["Content-Length"] = str(len(response.body))
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


class Visualiser(MosaikWeb):
    """mosaik-web's ``Topology`` simulator, serving a :class:`ReplayServer`."""

    serve_after_run = False
    """If false, stop serving when mosaik finalizes us (in-process, the
    world's loop closes right after).  :func:`main` sets it: it serves on."""

    def __init__(self):
        super().__init__()
        # upstream mutates one module-level dict shared by all instances
        self.config = {**default_config, "etypes": {}}

    async def serve(self):
        """Start the web server on :attr:`server_addr` (set by ``-s``)."""
        self.server = ReplayServer(self.server_addr)
        await self.server.start()

    def init(self, sid, time_resolution=1.0, *, start_date, step_size,
             serve_addr=DEFAULT_SERVE_ADDR):
        """mosaik-web's ``init`` without SSL.  In-process, the web server
        starts here, on *serve_addr* ("HOST:PORT"); the service (:func:`main`)
        is already serving on ``-s`` and ignores *serve_addr*."""
        self.sid, self.step_size = sid, step_size
        self.time_resolution = float(time_resolution)
        dt = arrow.parser.DateTimeParser().parse(start_date, DATE_FORMAT)
        self.start_date = arrow.get(dt, tz.tzlocal()).isoformat()
        if self.server is None:
            self.server_addr = mosaik_api_v3._parse_addr(serve_addr)
            yield self.serve()
        return self.meta

    def finalize(self):
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
