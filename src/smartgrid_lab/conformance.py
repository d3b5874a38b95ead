"""Does a simulator image keep the contract of an exercise's role?

    python -m smartgrid_lab.conformance IMAGE --exercise voltage     # on the host
    python -m smartgrid_lab.conformance --client HOST:PORT --contract JSON

The contract is the ``[role]`` of ``exercises/<id>/exercise.toml``: the
model, how many entities, the init params, the inputs the scenario sends
(check-sim sends their ``samples``), the outputs it reads with their
plausible ranges, and values the scenario's data implies (``expect``).

A student swaps one simulator; a mistake in it would otherwise surface deep
inside a full `make up` as a mosaik traceback. This check runs the image
alone, twice (one container serves one run), each time in a fresh container
on a fresh internal network with the lab's hardening. It waits until the
simulator listens without connecting (a connection would be taken as
mosaik's one), then a client container of the base image on the same
network speaks mosaik's protocol to it (mosaik-api's own ``Channel``) and
prints an ``ok`` or ``FAIL`` line per part of the contract, in the order a
run would hit them. The host never needs to reach the internal network, and
the client runs this very file (fed on stdin) with the contract as JSON, so
host and client always agree on it, however old the base image's copy.
Exit status: 0 if every run passed, 1 if not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from mosaik_api_v3.connection import Channel, RemoteException

from smartgrid_lab.simulators import SIMULATOR_PORT, origin


@dataclass(frozen=True)
class Contract:
    """What the exercise's scenario does with the simulator, and expects back
    (the ``[role]`` table of its exercise.toml, see smartgrid_lab.exercises.Role)."""

    sim_id: str
    model: str
    count: int
    params: dict[str, Any]
    step: int
    until: int
    inputs: dict[str, dict]  # attr -> {"samples": [...], ...}
    outputs: dict[str, dict]  # attr -> {"range": [low, high], "expect"?: {...}, ...}

    @classmethod
    def of(cls, raw: dict) -> "Contract":
        return cls(**{f: raw[f] for f in cls.__dataclass_fields__})

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {attr: tuple(spec["range"]) for attr, spec in self.outputs.items()}

    def inputs_at(self, step: int, eids: list[str]) -> dict:
        """mosaik's step() inputs: each input attr's sample for this step, from one source."""
        return {eid: {attr: {f"Source-0.{attr}": spec["samples"][step % len(spec["samples"])]}
                      for attr, spec in self.inputs.items()} for eid in eids}


def holds(expect: dict, value: float) -> bool:
    """Whether ``value`` meets an ``expect`` ({"below": x} and/or {"above": y})."""
    return (value < expect.get("below", math.inf)) and (value > expect.get("above", -math.inf))


LABEL = "smartgrid-lab.conformance"
HARDENING = ["--pull", "never", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
             "--security-opt", "no-new-privileges", "--user", "10001:10001",
             "--memory", "1g", "--cpus", "1"]
CALL_TIMEOUT = 10.0  # s for the simulator to answer one call


# --- The client: one mosaik session with the simulator ----------------------

class Abort(Exception):
    """A problem after which the rest of the session cannot be checked."""


class Session:
    """Drives the simulator through init, create, setup_done, step and get_data as
    mosaik would, and reports each part of the contract."""

    def __init__(self, channel: Channel, role: Contract):
        self.channel = channel
        self.role = role
        self.problems = 0

    def ok(self, text: str) -> None:
        print(f"ok    {text}", flush=True)

    def fail(self, text: str) -> None:
        print(f"FAIL  {text}", flush=True)
        self.problems += 1

    async def call(self, label: str, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.wait_for(self.channel.send([method, list(args), kwargs]),
                                          CALL_TIMEOUT)
        except RemoteException as error:
            location = origin("".join(error.further_args))
            raise Abort(f"{label} raised {error.remote_type}: {error.remote_msg}"
                        f"{f' at {location}' if location else ''}") from None
        except TimeoutError:
            raise Abort(f"{label} got no answer within {CALL_TIMEOUT:.0f} s") from None
        except (asyncio.IncompleteReadError, ConnectionError):
            raise Abort(f"{label}: the simulator closed the connection (did it crash? "
                        "see its log above)") from None

    async def run(self) -> None:
        role = self.role
        args = "".join(f", {k}={v!r}" for k, v in role.params.items())
        label = f"init({role.sim_id!r}, time_resolution=1.0{args})"
        meta = await self.call(label, "init", role.sim_id, time_resolution=1.0, **role.params)
        self.ok(f"{label} answers")
        if not self.meta_fits(meta):
            print("      (the scenario cannot go on with this meta: nothing further checked)")
            return

        label = f"create({role.count}, {role.model!r})"
        eids = self.check_entities(label, await self.call(label, "create", role.count, role.model))
        await self.call("setup_done()", "setup_done")
        self.ok("setup_done() answers")

        now, step_sizes, seen, ranges = 0, [], [], role.ranges()
        request = {eid: list(role.outputs) for eid in eids}
        expects = {attr: spec["expect"] for attr, spec in role.outputs.items()
                   if "expect" in spec}
        while now < role.until:
            inputs = role.inputs_at(len(step_sizes), eids)
            label = f"step({now}, {{{', '.join(role.inputs)}}}, {role.until})"
            later = await self.call(label, "step", now, inputs, role.until)
            if isinstance(later, bool) or not isinstance(later, int) or later <= now:
                raise Abort(f"{label} returned {later!r}: the next time must be an int "
                            f"greater than the current time {now}")
            label = f"get_data() at t={now}"
            data = await self.call(label, "get_data", request)
            if problem := bad_output(data, eids, ranges):
                raise Abort(f"{label}: {problem}")
            for attr, expect in expects.items():
                if now <= expect["at"] < later:
                    seen.append((attr, expect, {eid: data[eid][attr] for eid in eids
                                                if not holds(expect, data[eid][attr])}))
            step_sizes.append(later - now)
            now = later
        sizes = ", ".join(map(str, sorted(set(step_sizes))))
        self.ok(f"step() returns a later time each call, up to {now} (steps of {sizes})")
        shown = ", ".join(f"{attr} in [{low:g}, {high:g}]" for attr, (low, high) in ranges.items())
        self.ok(f"get_data() answers for all {len(eids)} entities at every step: finite, {shown}")
        for attr, expect, wrong in seen:
            says = f"{attr} {expect['says']} (t={expect['at']})"
            if wrong:
                eid, value = next(iter(wrong.items()))
                self.fail(f"{says}: not so for {len(wrong)} entities, e.g. {eid!r}: {value!r}")
            else:
                self.ok(says)

    def meta_fits(self, meta: Any) -> bool:
        if not isinstance(meta, dict):
            raise Abort(f"init() returned {meta!r}, not the simulator's meta dict")
        before = self.problems
        version, kind = meta.get("api_version"), meta.get("type")
        if isinstance(version, str) and re.fullmatch(r"3\.\d+", version):
            self.ok(f"meta: api_version {version!r}")
        else:
            self.fail(f"meta: api_version is {version!r}, expected '3.x' (mosaik 3)")
        if kind in ("time-based", "hybrid", "event-based"):
            self.ok(f"meta: type {kind!r}")
        else:
            self.fail(f"meta: type is {kind!r}, expected 'time-based', 'hybrid' or 'event-based'")
        model = (meta.get("models") or {}).get(self.role.model)
        if not isinstance(model, dict):
            models = list(meta.get("models") or {})
            self.fail(f"meta: no model {self.role.model!r} in meta['models'] (it has {models})")
        elif model.get("public") is not True:
            self.fail(f"meta: model {self.role.model!r} is not public (meta['models']"
                      f"[{self.role.model!r}]['public'] is {model.get('public')!r})")
        else:
            attrs = model.get("attrs") or []
            for attr in [*self.role.inputs, *self.role.outputs]:
                if attr in attrs:
                    self.ok(f"meta: model {self.role.model!r} is public and offers attr {attr!r}")
                else:
                    self.fail(f"meta: model {self.role.model!r} does not offer attr {attr!r} "
                              f"(its attrs: {attrs!r})")
        return self.problems == before

    def check_entities(self, label: str, entities: Any) -> list[str]:
        role = self.role
        if not isinstance(entities, list) or len(entities) != role.count:
            raise Abort(f"{label} returned {entities!r:.200}: expected a list of "
                        f"{role.count} entities")
        for entity in entities:
            if not isinstance(entity, dict) or not isinstance(entity.get("eid"), str):
                raise Abort(f"{label}: entity {entity!r} has no 'eid' string")
            if entity.get("type") != role.model:
                raise Abort(f"{label}: entity {entity['eid']!r} has type "
                            f"{entity.get('type')!r}, expected {role.model!r}")
        eids = [entity["eid"] for entity in entities]
        if len(set(eids)) != len(eids):
            raise Abort(f"{label}: the eids are not unique: {eids}")
        self.ok(f"{label} returns {role.count} entities of type {role.model!r} with unique eids")
        return eids


def bad_output(data: Any, eids: list[str], outputs: dict[str, tuple[float, float]]) -> str | None:
    """What is wrong with get_data()'s answer, if anything: the first problem found."""
    if not isinstance(data, dict):
        return f"returned {data!r:.100}, not a dict of entities"
    for eid in eids:
        values = data.get(eid)
        if not isinstance(values, dict):
            return f"no data for entity {eid!r}"
        for attr, (low, high) in outputs.items():
            if attr not in values:
                return f"no {attr!r} for entity {eid!r}"
            value = values[attr]
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                return f"{eid!r} {attr!r} is {value!r}, not a finite number"
            if not low <= value <= high:
                return (f"{eid!r} {attr!r} is {value!r}, outside the plausible "
                        f"range [{low:g}, {high:g}]")
    return None


async def client(address: str, role: Contract) -> int:
    """Check the simulator at ``address`` in one session; the number of problems."""
    host, _, port = address.rpartition(":")
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)),
                                                CALL_TIMEOUT)
    except (OSError, TimeoutError) as error:
        print(f"FAIL  cannot connect to {address}: {error}", flush=True)
        return 1
    session = Session(Channel(reader, writer, name="simulator"), role)
    try:
        await session.run()
    except Abort as problem:
        session.fail(str(problem))
    finally:
        with contextlib.suppress(TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            await asyncio.wait_for(session.channel.send(["stop", [], {}]), 0.5)
        with contextlib.suppress(ConnectionError):
            await session.channel.close()
    return session.problems


# --- The host: containers, network, runs --------------------------------------

def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def wait_until_listening(container: str, timeout: float) -> str | None:
    """None once the simulator listens on its port; else what went wrong, with its log."""
    started = time.monotonic()
    while True:
        probe = docker("exec", container, "python", "-m", "smartgrid_lab.listening",
                       str(SIMULATOR_PORT))
        if probe.returncode == 0:
            return None
        state = docker("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", container)
        running, _, code = state.stdout.strip().partition(" ")
        waited = time.monotonic() - started
        if running != "true":
            why = f"the container exited with code {code} after {waited:.1f} s"
            break
        if waited >= timeout:
            why = f"not within {timeout:.0f} s (the container is still running)"
            break
        time.sleep(0.5)
    log = subprocess.run(["docker", "logs", "--tail", "10", container], text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout
    shown = "".join(f"\n        | {line}" for line in log.splitlines()) or " (none)"
    return f"never listens on port {SIMULATOR_PORT}: {why}; its last log lines:{shown}"


def check_run(image: str, contract: str, name: str, network: str, base_image: str,
              ready_timeout: float) -> int:
    """One run in a fresh container; prints its lines, returns the number of problems."""
    started = docker("run", "-d", "--name", f"{name}-sim", "--network", network,
                     "--label", LABEL, *HARDENING, image)
    if started.returncode != 0:
        print(f"  FAIL  cannot start {image}: {started.stderr.strip().splitlines()[0]}")
        return 1
    if problem := wait_until_listening(f"{name}-sim", ready_timeout):
        print(f"  FAIL  {problem}")
        return 1
    print(f"  ok    listens on port {SIMULATOR_PORT} (seen without connecting)", flush=True)
    problems = 0
    with open(__file__) as this_file, subprocess.Popen(
            ["docker", "run", "-i", "--rm", "--name", f"{name}-client", "--network", network,
             "--label", LABEL, *HARDENING, base_image, "python", "-",
             "--client", f"{name}-sim:{SIMULATOR_PORT}", "--contract", contract],
            stdin=this_file, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True) as client_run:
        for line in client_run.stdout:
            print(f"  {line}", end="", flush=True)
            problems += line.startswith("FAIL")
    if client_run.returncode and not problems:
        print(f"  FAIL  the check client itself failed (exit {client_run.returncode})")
        problems = 1
    return problems


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def check_image(image: str, exercise: str, runs: int, base_image: str,
                ready_timeout: float) -> int:
    """Check ``image`` in ``runs`` fresh containers; print the verdict, return the exit status."""
    from smartgrid_lab import exercises  # the host's: the client gets the contract as JSON

    try:
        role = exercises.load(exercise).role
    except exercises.ExerciseError as error:
        sys.exit(f"error: {error}")
    if role is None:
        sys.exit(f"error: exercise {exercise!r} has no role for a student's simulator; "
                 "'make exercises' lists those that do")
    contract = json.dumps(dataclasses.asdict(role) | {"sim_id": role.sim_id})
    tag = f"sgl-check-{secrets.token_hex(4)}"
    print(f"Checking {image} as the {role.service!r} simulator of exercise {exercise}: "
          f"{plural(runs, 'run')}, each in a fresh container ({tag}-*)", flush=True)
    problems = 0
    try:
        created = docker("network", "create", "--internal", "--label", LABEL, f"{tag}-net")
        if created.returncode != 0:
            sys.exit(f"error: cannot create a docker network: {created.stderr.strip()}")
        for run in range(1, runs + 1):
            print(f"run {run} of {runs}:", flush=True)
            problems = check_run(image, contract, f"{tag}-run{run}", f"{tag}-net", base_image,
                                 ready_timeout)
            docker("rm", "-f", f"{tag}-run{run}-sim")
            if problems:
                break
    finally:
        left = docker("ps", "-aq", "--filter", f"name={tag}-").stdout.split()
        if left:
            docker("rm", "-f", *left)
        docker("network", "rm", f"{tag}-net")
    if problems:
        print(f"FAIL: {plural(problems, 'problem')}")
        return 1
    print(f"PASS: {image} keeps the contract of exercise {exercise}'s {role.service} "
          f"simulator "
          f"({plural(runs, 'run')})")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m smartgrid_lab.conformance",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("image", nargs="?", help="the simulator image to check")
    parser.add_argument("--exercise", default="model",
                        help="the exercise whose role it fills (default: model, the demo's PV)")
    parser.add_argument("--contract", help="(inside the check network) the role as JSON")
    parser.add_argument("--runs", type=int, default=2, help="fresh containers to check it in")
    parser.add_argument("--ready-timeout", type=float, default=30,
                        help="seconds for the simulator to start listening")
    parser.add_argument("--base-image", default="smartgrid-lab/base",
                        help="the image the check client runs in")
    parser.add_argument("--client", metavar="HOST:PORT",
                        help="(inside the check network) check the simulator listening there")
    args = parser.parse_args(argv)
    if args.client:
        return min(asyncio.run(client(args.client, Contract.of(json.loads(args.contract)))), 1)
    if not args.image:
        parser.error("name the image to check, e.g. smartgrid-lab/mypv")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on `kill` too
    try:
        return check_image(args.image, args.exercise, args.runs, args.base_image,
                           args.ready_timeout)
    except KeyboardInterrupt:
        print("interrupted; the check's containers and network are removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
