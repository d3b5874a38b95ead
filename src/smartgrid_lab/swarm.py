"""The lab on a Docker Swarm (`make up ENGINE=swarm`), from compose.yaml's services.

Nothing here is a second description of the lab: ``docker-compose config`` (the
lab's services with every variable filled in) becomes two files.

- A stack: the exercise's simulators as one-shot swarm services (restart
  condition none) on an internal, attachable overlay network, anywhere in the
  swarm unless ``PLACE_<SERVICE>=<label>`` pins one to nodes labelled
  ``<label>=true``. Services that write into ``results/`` (the recorder) run
  on this node, where ``results/`` is. Service names resolve with
  ``endpoint_mode: dnsrr``: the default virtual IP is not reachable from an
  attachable overlay on a one-node swarm ("No route to host").
- A Compose file for this machine: the master and the visualiser, as plain
  containers on that overlay, so the results land in this folder and the page
  is published on LAB_WEB_BIND only (swarm publishes on every interface).

    python -m smartgrid_lab.swarm check      # is this engine a swarm manager?
    python -m smartgrid_lab.swarm files PROJECT DIR [SERVICE...]  < docker-compose config
    python -m smartgrid_lab.swarm wait PROJECT SERVICE...    # prints service=node ...
    python -m smartgrid_lab.swarm record RUN_DIR ENGINE [service=node ...]
    python -m smartgrid_lab.swarm remove PROJECT
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

LOCAL = ("web", "master")
"""Services that run on this machine as Compose containers, never in the stack."""

START_TIMEOUT = float(os.environ.get("LAB_SWARM_TIMEOUT") or 120)
"""Seconds a simulator's task may take to run (image pulls on other nodes included)."""


class SwarmError(Exception):
    """A problem with the swarm or the placement that a user can fix."""


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True)
    if done.returncode:
        raise SwarmError(f"`docker {' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout.strip()


def this_node() -> str:
    """This engine's node id; an error unless it can deploy to a swarm."""
    state, manager, *node = docker("info", "-f", "{{.Swarm.LocalNodeState}} "
                                  "{{.Swarm.ControlAvailable}} {{.Swarm.NodeID}}").split()
    if state != "active" or manager != "true":
        raise SwarmError(
            "ENGINE=swarm needs this Docker engine to be a manager of a swarm (it is "
            f"{'a worker' if state == 'active' else state}): run make on a manager node, or make "
            "this machine a one-node swarm with `docker swarm init --advertise-addr 127.0.0.1`.")
    return node[0]


def place_variable(service: str) -> str:
    """The variable that places *service*: PLACE_STORAGE_CONTROLLER for storage-controller."""
    return f"PLACE_{service.upper().replace('-', '_')}"


def placements(services: list[str], environ=os.environ) -> dict[str, str]:
    """``{service: label}`` from the ``PLACE_<SERVICE>`` variables."""
    wanted = {place_variable(s): s for s in services}
    places = {}
    for name, label in environ.items():
        if not name.startswith("PLACE_") or not label:
            continue
        if name not in wanted:
            raise SwarmError(f"{name}={label}: this exercise runs no such simulator; "
                             f"it runs {', '.join(sorted(set(services) - set(LOCAL)))}.")
        if wanted[name] in LOCAL:
            raise SwarmError(f"{name}={label}: the {wanted[name]} service runs on this "
                             "machine (it serves the page), it cannot be placed elsewhere.")
        places[wanted[name]] = label
    return places


def stack_file(config: dict, services: list[str], node: str, places: dict[str, str]) -> dict:
    """The exercise's simulators from ``docker-compose config`` as a stack."""
    stack = {"version": "3.8", "services": {},
             "networks": {"simulation": {"driver": "overlay", "internal": True,
                                         "attachable": True}}}
    for name in services:
        if name in LOCAL:
            continue
        service = dict(config["services"][name])
        writes_here = any(not volume.endswith(":ro") for volume in service.get("volumes", []))
        if writes_here and name in places:
            raise SwarmError(f"{place_variable(name)}={places[name]}: the {name} service writes "
                             "into results/ on this machine, so it always runs here.")
        constraints = ([f"node.id=={node}"] if writes_here
                       else [f"node.labels.{places[name]}==true"] if name in places else [])
        service.pop("build", None)
        service.pop("security_opt", None)  # swarm ignores it: it would only warn
        # Swarm kills a task whose health check fails, and a simulator stops
        # listening once the master has connected: the master's retries suffice.
        service["healthcheck"] = {"disable": True}
        limits = {"memory": service.pop("mem_limit"), "cpus": str(service.pop("cpus"))}
        service["networks"] = list(service["networks"])
        service["deploy"] = {"endpoint_mode": "dnsrr", "restart_policy": {"condition": "none"},
                             "resources": {"limits": limits},
                             "placement": {"constraints": constraints}}
        stack["services"][name] = service
    return stack


def local_file(config: dict, project: str) -> dict:
    """The master and the visualiser as Compose services on the stack's network."""
    networks = dict(config["networks"])
    networks["simulation"] = {"external": True, "name": f"{project}_simulation"}
    return {"services": {name: config["services"][name] for name in LOCAL},
            "networks": networks}


def tasks(project: str) -> dict[str, dict]:
    """The newest task of each of the stack's services, by service name."""
    try:
        lines = docker("stack", "ps", project, "--no-trunc", "--format", "{{json .}}").splitlines()
    except SwarmError as error:
        if "nothing found in stack" in str(error):  # its tasks are not created yet
            return {}
        raise
    newest = {}
    for task in map(json.loads, lines):  # newest first
        service = task["Name"].split(".")[0].removeprefix(f"{project}_")
        newest.setdefault(service, task)
    return newest


def wait_running(project: str, services: list[str], places: dict[str, str],
                 timeout: float = START_TIMEOUT) -> dict[str, str]:
    """``{service: node}`` once every simulator's task runs; a clear error if
    one cannot be placed or started, instead of waiting for ever."""
    services = [s for s in services if s not in LOCAL]
    deadline = time.monotonic() + timeout
    while True:
        current = tasks(project)
        waiting = []
        for service in services:
            task = current.get(service)
            state = task["CurrentState"].split()[0].lower() if task else "new"
            error = task["Error"].strip('"') if task else ""
            if "no suitable node" in error:
                raise SwarmError(unplaceable(service, places.get(service), error))
            if state in ("failed", "rejected", "shutdown", "orphaned"):
                raise SwarmError(
                    f"the simulator service '{service}' could not start on node "
                    f"{task['Node'] or '?'}: {error or state}. Is its image "
                    f"{task['Image']} on that node (make swarm-images NODES=...)? "
                    f"`make logs ENGINE=swarm SERVICE={service}` shows its log.")
            if state not in ("running", "complete"):
                waiting.append(f"{service} ({state})")
        if not waiting:
            return {service: current[service]["Node"] for service in services}
        if time.monotonic() > deadline:
            raise SwarmError(f"simulator services still not running after {timeout:.0f} s: "
                             f"{', '.join(waiting)}; `docker stack ps {project}` tells why "
                             "(LAB_SWARM_TIMEOUT=<s> waits longer).")
        time.sleep(0.5)


def unplaceable(service: str, label: str | None, error: str) -> str:
    if label is None:
        return f"no node of the swarm can run the simulator service '{service}': {error}."
    variable = place_variable(service)
    return (f"{variable}={label}: no node of the swarm has the label {label}=true, so the "
            f"simulator service '{service}' cannot be placed ({error}). Label a node with "
            f"`docker node update --label-add {label}=true <node>` or leave {variable} out.")


def record(run_dir: Path, engine: str, nodes: dict[str, str]) -> None:
    """Add the engine and, on a swarm, each simulator's node to the run's manifest."""
    path = run_dir / "manifest.json"
    if not path.exists():
        return
    manifest = json.loads(path.read_text())
    manifest["engine"] = engine
    for described in manifest.get("simulators", {}).values():
        if described.get("service") in nodes:
            described["node"] = nodes[described["service"]]
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def remove(project: str, timeout: float = 60) -> None:
    """Remove the stack and wait until its services, network and containers are gone."""
    this_node()
    label = f"label=com.docker.stack.namespace={project}"
    if docker("service", "ls", "-q", "--filter", label):
        docker("stack", "rm", project)
    deadline = time.monotonic() + timeout
    while (docker("service", "ls", "-q", "--filter", label)
           or docker("network", "ls", "-q", "--filter", label)
           or docker("ps", "-aq", "--filter", label)):  # this node's task containers
        if time.monotonic() > deadline:
            raise SwarmError(f"the stack {project} is still not gone after {timeout:.0f} s: "
                             f"see `docker stack ps {project}`.")
        time.sleep(0.5)


def main(argv: list[str]) -> int:
    try:
        command, args = argv[0], argv[1:]
        if command == "files":
            try:
                import yaml  # here only: an offline bundle's venv has no PyYAML
            except ImportError:
                raise SwarmError("ENGINE=swarm reads `docker-compose config` with PyYAML, which "
                                 "this venv lacks (an offline bundle's venv has only the lab's "
                                 "packages): pip install PyYAML==6.0.3 into .venv.") from None
            project, directory, services = args[0], Path(args[1]), args[2:]
            config = yaml.safe_load(sys.stdin)
            directory.mkdir(parents=True, exist_ok=True)
            if services:  # without: only what `make down` needs
                stack = stack_file(config, services, this_node(), placements(services))
                (directory / "stack.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
            (directory / "local.yaml").write_text(
                yaml.safe_dump(local_file(config, project), sort_keys=False))
        elif command == "check":
            this_node()
        elif command == "wait":
            nodes = wait_running(args[0], args[1:], placements(args[1:]))
            nodes["web"] = docker("info", "-f", "{{.Name}}")  # a Compose container here
            print(" ".join(f"{service}={node}" for service, node in nodes.items()))
        elif command == "record":
            record(Path(args[0]), args[1], dict(arg.split("=", 1) for arg in args[2:]))
        elif command == "remove":
            remove(args[0])
        else:
            raise SwarmError(f"unknown command {command!r}")
    except SwarmError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
