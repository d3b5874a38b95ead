"""`make up ENGINE=swarm` on a one-node Docker Swarm: the same results as Compose.

The stack is checked against compose.yaml without an engine; the run itself
needs one (marked docker). The engine joins no swarm for these tests if it
is in one already (the user's); otherwise the tests make a one-node swarm and
leave it again at the end.
"""

import json
import os
import shutil
import subprocess
import time
import urllib.request

import pytest
import yaml

from conftest import REPO, free_port, make_in
from smartgrid_lab import swarm as lab_swarm


def compose_config(**environ: str) -> dict:
    """compose.yaml filled in, as `make up` hands it to smartgrid_lab.swarm."""
    done = subprocess.run(["docker-compose", "-f", "compose.yaml", "config"], cwd=REPO,
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "LAB_UID": "10001", "LAB_GID": "10001", **environ})
    return yaml.safe_load(done.stdout)


def test_the_stack_is_compose_yaml_with_swarm_placement():
    config = compose_config(LAB_SERVICE_GRID="grid-pandapower")
    services = ["grid", "households", "pv", "storage-controller", "recorder", "web"]
    stack = lab_swarm.stack_file(config, services, "NODE", {"storage-controller": "fast"})
    assert set(stack["services"]) == {"grid", "households", "pv", "storage-controller",
                                      "recorder"}  # the page and the master run here
    assert stack["networks"]["simulation"] == {"driver": "overlay", "internal": True,
                                               "attachable": True}
    for name, service in stack["services"].items():
        compose = config["services"][name]
        for key in ("image", "user", "read_only", "cap_drop", "tmpfs", "labels"):
            assert service[key] == compose[key], (name, key)
        assert service["deploy"]["endpoint_mode"] == "dnsrr"
        assert service["deploy"]["restart_policy"] == {"condition": "none"}
        assert service["deploy"]["resources"]["limits"] == {"memory": "1g", "cpus": "1.0"}
    assert stack["services"]["grid"]["image"] == "smartgrid-lab/grid-pandapower"  # a swap too
    placed = {name: service["deploy"]["placement"]["constraints"]
              for name, service in stack["services"].items()}
    assert placed == {"grid": [], "households": [], "pv": [],
                      "storage-controller": ["node.labels.fast==true"],
                      "recorder": ["node.id==NODE"]}  # it writes results/ here
    local = lab_swarm.local_file(config, "sgl-x")
    assert set(local["services"]) == {"web", "master"}
    assert local["networks"]["simulation"] == {"external": True, "name": "sgl-x_simulation"}


@pytest.mark.parametrize("variable, expected", [
    ("PLACE_EVS", "PLACE_EVS=fast: this exercise runs no such simulator; it runs grid, pv, "
                  "recorder."),
    ("PLACE_WEB", "PLACE_WEB=fast: the web service runs on this machine"),
])
def test_a_placement_that_cannot_be_is_refused(variable, expected):
    with pytest.raises(lab_swarm.SwarmError, match=f"^{expected}"):
        lab_swarm.placements(["grid", "pv", "recorder", "web"], {variable: "fast"})


def test_the_recorder_stays_where_the_results_are():
    with pytest.raises(lab_swarm.SwarmError, match="^PLACE_RECORDER=fast: the recorder service "
                                                   "writes into results/ on this machine"):
        lab_swarm.stack_file(compose_config(), ["recorder"], "NODE", {"recorder": "fast"})


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def leftovers(project: str) -> list[str]:
    """Every service, network and container of the lab ``project``."""
    stack, compose = (f"label=com.docker.stack.namespace={project}",
                      f"label=com.docker.compose.project={project}")
    return (docker("service", "ls", "-q", "--filter", stack).split()
            + docker("network", "ls", "-q", "--filter", stack).split()
            + docker("network", "ls", "-q", "--filter", compose).split()
            + docker("ps", "-aq", "--filter", stack).split()
            + docker("ps", "-aq", "--filter", compose).split())


@pytest.fixture(scope="module")
def swarm():
    """This engine's node name, on a swarm it manages."""
    made = docker("info", "-f", "{{.Swarm.LocalNodeState}}") == "inactive"
    bridge_there = docker("network", "ls", "-q", "--filter", "name=^docker_gwbridge$")
    if made:
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield docker("info", "-f", "{{.Name}}")
    finally:
        if made:
            docker("swarm", "leave", "--force")
            if not bridge_there:  # the init made it; leaving keeps it
                docker("network", "rm", "docker_gwbridge")


class SwarmLab:
    """One lab on the swarm, under its own project name and page port."""

    def __init__(self, suffix: str):
        self.project = f"sgl-swarm-test-{os.getpid()}-{suffix}"
        self.port = free_port()
        self.run_id = f"test-swarm-{os.getpid()}-{suffix}"
        self.directory = REPO / "results" / self.run_id

    def make(self, target: str, *args: str) -> subprocess.CompletedProcess:
        return make_in(REPO, target, "ENGINE=swarm", f"COMPOSE_PROJECT={self.project}",
                       f"LAB_WEB_PORT={self.port}", f"RUN_ID={self.run_id}", *args)

    def down(self):
        self.make("down")
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="module")
def demo(swarm):
    lab = SwarmLab("demo")
    lab.up = lab.make("up")
    try:
        yield lab
    finally:
        lab.down()


@pytest.mark.docker
def test_the_demo_on_a_swarm_equals_the_local_run(demo, swarm, local_run):
    assert demo.up.returncode == 0, demo.up.stdout + demo.up.stderr
    assert f"Results: results/{demo.run_id}/" in demo.up.stdout
    record = json.loads((demo.directory / "manifest.json").read_text())
    local = json.loads((local_run / "manifest.json").read_text())
    assert record["status"] == "completed" and record["engine"] == "swarm"
    assert record["hdf5"]["datasets"] == local["hdf5"]["datasets"]  # bit-identical
    for name, described in record["simulators"].items():
        assert described["node"] == swarm, name
    assert (demo.directory / "demo.hdf5").stat().st_uid == os.getuid()


@pytest.mark.docker
def test_simulators_are_one_shot_services_on_an_internal_overlay(demo):
    network = json.loads(docker("network", "inspect", f"{demo.project}_simulation"))[0]
    assert (network["Driver"], network["Internal"], network["Attachable"]) == \
        ("overlay", True, True)
    services = docker("service", "ls", "--format", "{{.Name}}", "--filter",
                      f"label=com.docker.stack.namespace={demo.project}").split()
    assert sorted(services) == [f"{demo.project}_{s}" for s in
                                ("grid", "households", "pv", "recorder")]
    for service in services:
        spec = json.loads(docker("service", "inspect", service))[0]["Spec"]
        assert spec["EndpointSpec"]["Mode"] == "dnsrr"
        assert spec["TaskTemplate"]["RestartPolicy"]["Condition"] == "none"
        assert spec["TaskTemplate"]["ContainerSpec"]["User"] != "0"


@pytest.mark.docker
def test_the_page_stays_on_loopback(demo):
    web = docker("ps", "-q", "--filter", f"label=com.docker.compose.project={demo.project}",
                 "--filter", "label=com.docker.compose.service=web")
    assert docker("port", web, "8000") == f"127.0.0.1:{demo.port}"
    with urllib.request.urlopen(f"http://127.0.0.1:{demo.port}/", timeout=10) as page:
        assert page.status == 200


@pytest.mark.docker
def test_a_placement_label_no_node_has_is_one_clear_error(swarm):
    lab = SwarmLab("place")
    try:
        started = time.monotonic()
        up = lab.make("up", "PLACE_GRID=sgl-test-nowhere")
        took = time.monotonic() - started
        assert up.returncode == 2, up.stdout + up.stderr
        errors = [line for line in up.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0].startswith(
            "error: PLACE_GRID=sgl-test-nowhere: no node of the swarm has the label "
            "sgl-test-nowhere=true, so the simulator service 'grid' cannot be placed"), up.stderr
        assert took < 90, f"took {took:.0f} s"
        assert leftovers(lab.project) == []
    finally:
        if leftovers(lab.project):
            lab.make("down")
        shutil.rmtree(lab.directory, ignore_errors=True)


@pytest.mark.docker
def test_make_down_leaves_nothing_behind(demo):
    down = demo.make("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert leftovers(demo.project) == []
