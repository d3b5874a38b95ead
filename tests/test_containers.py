"""`make up` end to end: real images, real containers, the same results as locally.

One module-scoped `make up` under its own Compose project name and web port;
every test here looks at that run, the last one takes it down again.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from browser import open_page
from conftest import REPO, STEPS, expected_entities, free_port
from smartgrid_lab import manifest, numeric, results

pytestmark = pytest.mark.docker


class Stack:
    """One `make up` of the demo, for the tests to inspect."""

    def __init__(self):
        self.project = f"sgl-test-{os.getpid()}"
        self.port = free_port()
        self.run_id = f"test-{os.getpid()}"
        self.directory = REPO / "results" / self.run_id

    def make(self, target: str, timeout: float = 1200) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["make", "--no-print-directory", target, f"COMPOSE_PROJECT={self.project}",
             f"LAB_WEB_PORT={self.port}", f"RUN_ID={self.run_id}"],
            cwd=REPO, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def docker(self, *args: str) -> str:
        return subprocess.run(["docker", *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    def containers(self) -> list[str]:
        return self.docker("ps", "-a", "-q", "--filter",
                           f"label=com.docker.compose.project={self.project}").split()

    def networks(self) -> list[str]:
        return self.docker("network", "ls", "-q", "--filter",
                           f"label=com.docker.compose.project={self.project}").split()


@pytest.fixture(scope="module")
def stack():
    stack = Stack()
    stack.up = stack.make("up")
    try:
        yield stack
    finally:
        stack.make("down")
        shutil.rmtree(stack.directory, ignore_errors=True)


def test_make_up_completes_and_says_where_results_are(stack):
    assert stack.up.returncode == 0, stack.up.stdout + stack.up.stderr
    assert f"Results: results/{stack.run_id}/" in stack.up.stdout
    assert f"http://127.0.0.1:{stack.port}" in stack.up.stdout


def test_every_entity_is_recorded_at_every_step(stack):
    with h5py.File(stack.directory / "demo.hdf5") as db:
        assert set(db["Series"]) == expected_entities()
        for entity, group in db["Series"].items():
            for attr, dataset in group.items():
                assert dataset.shape == (STEPS,), f"{entity}/{attr}"
    assert results.physics_problems(stack.directory / "demo.hdf5", STEPS) == []


@pytest.fixture(scope="module")
def user_local_run():
    """`make run-local` as a user runs it: in the user's environment (whatever
    it says of OPENBLAS_CORETYPE, threads, ...), not the tests' scrubbed one."""
    run_id = f"test-{os.getpid()}-user"
    directory = REPO / "results" / f"{run_id}-local"
    try:
        done = subprocess.run(
            ["make", "--no-print-directory", "run-local", f"RUN_ID={run_id}",
             f"LAB_WEB_PORT={free_port()}"],
            cwd=REPO, env=os.environ, capture_output=True, text=True, timeout=1200,
            stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout + done.stderr
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_container_run_equals_local_run(stack, user_local_run):
    container_record = json.loads((stack.directory / "manifest.json").read_text())
    local_record = json.loads((user_local_run / "manifest.json").read_text())
    assert container_record["hdf5"]["datasets"] == local_record["hdf5"]["datasets"], \
        numeric.differences(local_record, container_record)
    with h5py.File(stack.directory / "demo.hdf5") as remote, \
            h5py.File(user_local_run / "demo.hdf5") as local:
        names = []
        remote.visit(names.append)
        assert sorted(names) == sorted(_names(local))
        for name in names:
            if isinstance(remote[name], h5py.Dataset):
                assert remote[name].shape == local[name].shape, name
                assert np.array_equal(remote[name][()], local[name][()]), name


def _names(db):
    names = []
    db.visit(names.append)
    return names


def test_manifest_names_the_images_and_the_containers(stack):
    record = json.loads((stack.directory / "manifest.json").read_text())
    assert record["status"] == "completed"
    assert record["mode"] == "containers"
    assert record["hdf5"]["datasets"] == manifest.dataset_checksums(stack.directory / "demo.hdf5")
    for name, service in [("Grid", "grid"), ("Households", "households"), ("PV", "pv"),
                          ("Recorder", "recorder"), ("Web", "web")]:
        described = record["simulators"][name]
        assert described["connect"] == f"{service}:5555"
        assert described["image"] == f"smartgrid-lab/{service}"
        ran = stack.docker("ps", "-aq", "--filter",
                           f"label=com.docker.compose.project={stack.project}",
                           "--filter", f"label=com.docker.compose.service={service}")
        assert described["image_id"] == stack.docker("inspect", "-f", "{{.Image}}", ran)


def test_manifest_records_the_numeric_environment_of_master_and_containers(stack):
    """The master and every simulator served by smartgrid_lab.serve ran with
    the image's fixed values, no re-exec needed, the same BLAS kernels."""
    record = json.loads((stack.directory / "manifest.json").read_text())
    master = record["numeric"]
    assert master["env"] == numeric.fixed_environment() and master["overridden"] == {}
    for name in ["Grid", "Households", "PV", "Recorder"]:
        (sim_id, report), = record["simulators"][name]["numeric"].items()
        assert sim_id == f"{name}-0"
        assert report["env"] == master["env"] and report["overridden"] == {}
        assert report["blas"] == master["blas"], name
        assert report["numpy_dispatch_enabled"] == []


def test_results_belong_to_the_invoking_user(stack):
    for path in [stack.directory, *stack.directory.iterdir()]:
        assert path.stat().st_uid == os.getuid(), path


def test_containers_run_unprivileged_on_an_internal_network(stack):
    containers = stack.containers()
    assert len(containers) == 5  # the master ran with --rm; the simulators remain
    for container in containers:
        config = json.loads(stack.docker("inspect", "-f", "{{json .}}", container))
        user, host = config["Config"]["User"], config["HostConfig"]
        assert user and not user.startswith("0:"), (container, user)
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert "no-new-privileges:true" in host["SecurityOpt"]
        assert host["Memory"] == 2**30 and host["NanoCpus"] == 10**9
    simulation = f"{stack.project}_simulation"
    assert stack.docker("network", "inspect", "-f", "{{.Internal}}", simulation) == "true"
    web = stack.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={stack.project}",
                       "--filter", "label=com.docker.compose.service=web")
    assert stack.docker("exec", web, "id", "-u") != "0"
    assert stack.docker("port", web, "8000") == f"127.0.0.1:{stack.port}"


def test_a_simulator_reaches_nothing_beyond_the_simulation_network(stack):
    """A (student) simulator container on the simulation network reaches the
    visualiser there, but not at its address on the other network: the
    simulation network has no way out. Only the lab's own containers are
    contacted."""
    network = f"{stack.project}_simulation"
    web = stack.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={stack.project}",
                       "--filter", "label=com.docker.compose.service=web")
    addresses = json.loads(stack.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", web))
    probe = ("import socket, sys; s = socket.socket(); s.settimeout(3); "
             "print(s.connect_ex((sys.argv[1], 8000)))")

    def connects(address: str) -> bool:
        return stack.docker("run", "--rm", "--network", network, "smartgrid-lab/pv",
                            "python", "-c", probe, address) == "0"

    assert connects(addresses[network]["IPAddress"])
    assert not connects(addresses[f"{stack.project}_published"]["IPAddress"])
    for container in stack.containers():
        service = stack.docker("inspect", "-f",
                               '{{index .Config.Labels "com.docker.compose.service"}}', container)
        networks = json.loads(stack.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}",
                                           container))
        expected = {network} | ({f"{stack.project}_published"} if service == "web" else set())
        assert set(networks) == expected, (service, set(networks))


@pytest.mark.browser
def test_page_at_the_web_port_shows_the_finished_run(stack, tmp_path):
    grid = json.loads((REPO / "data" / "grid.json").read_text())
    lines = {f"Grid-0.0-{line[0]}" for line in grid["trafo"] + grid["branch"]}
    shown = expected_entities() - lines  # mosaik-web draws lines as links
    with open_page(f"http://127.0.0.1:{stack.port}/") as (page, problems):
        nodes = page.locator("#topology circle.node")
        nodes.first.wait_for()
        assert set(nodes.all_text_contents()) == shown
        # the replayed day reached the page: bus voltages near 400 V, progress full
        page.wait_for_function("""() => document.getElementById('progress')
            .getBoundingClientRect().width >
              0.99 * document.documentElement.getBoundingClientRect().width""")
        values = dict(page.evaluate(
            "d3.selectAll('#topology .node').data().map(n => [n.name, n.value])"))
        assert 0.9 * 400 < values["Grid-0.0-node_a1"] < 1.1 * 400
        page.wait_for_timeout(1000)
        page.screenshot(path=tmp_path / "demo.png")
        shutil.copy(tmp_path / "demo.png", "/tmp/demo.png")
        assert problems == []


def test_a_port_in_use_is_refused_before_anything_starts(stack):
    other = subprocess.run(
        ["make", "--no-print-directory", "up", f"COMPOSE_PROJECT={stack.project}-other",
         f"LAB_WEB_PORT={stack.port}", f"RUN_ID={stack.run_id}-other"],  # the stack holds it
        cwd=REPO, capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL)
    assert other.returncode == 2
    assert f"error: port {stack.port} on 127.0.0.1 is already in use" in other.stderr
    assert stack.docker("ps", "-aq", "--filter",
                        f"label=com.docker.compose.project={stack.project}-other") == ""


def test_make_up_again_replaces_the_running_stack(stack):
    again = subprocess.run(
        ["make", "--no-print-directory", "up", f"COMPOSE_PROJECT={stack.project}",
         f"LAB_WEB_PORT={stack.port}", f"RUN_ID={stack.run_id}-again"],
        cwd=REPO, capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL)
    try:
        assert again.returncode == 0, again.stdout + again.stderr
        record = json.loads((REPO / "results" / f"{stack.run_id}-again" / "manifest.json")
                            .read_text())
        first = json.loads((stack.directory / "manifest.json").read_text())
        assert record["hdf5"]["datasets"] == first["hdf5"]["datasets"]  # bit-identical rerun
        assert len(stack.containers()) == 5  # replaced, not added to
    finally:
        shutil.rmtree(REPO / "results" / f"{stack.run_id}-again", ignore_errors=True)


def test_make_down_leaves_nothing_behind(stack):
    down = stack.make("down")
    assert down.returncode == 0, down.stderr
    assert stack.containers() == []
    assert stack.networks() == []


@contextlib.contextmanager
def slow_run(suffix: str, call_timeout: str = "10"):
    """`make up` of a day slowed to about 45 s, under its own project, handed
    over once the recorder has been writing for a while (10 s), and always
    taken down again. ``call_timeout=""`` keeps the user's default (120 s)."""
    stack = Stack()
    stack.project += f"-{suffix}"
    run_id = f"{stack.run_id}-{suffix}"
    command = ["make", "--no-print-directory", "up", f"COMPOSE_PROJECT={stack.project}",
               f"LAB_WEB_PORT={stack.port}", f"RUN_ID={run_id}",
               "LAB_RT_FACTOR=0.0005", *([f"LAB_CALL_TIMEOUT={call_timeout}"] if call_timeout
                                         else [])]
    up = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, stdin=subprocess.DEVNULL, start_new_session=True)
    directory = REPO / "results" / run_id
    deadline = time.monotonic() + 600
    try:
        while not (directory / "demo.hdf5").exists() and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(10)
        yield stack, up, directory
    finally:
        up.kill()
        stack.make("down")
        shutil.rmtree(directory, ignore_errors=True)


def assert_stopped_cleanly(stack: Stack, directory: Path, status: str) -> None:
    """The HDF5 file holds every step before the stop; the manifest says why."""
    with h5py.File(directory / "demo.hdf5") as db:
        recorded = db.attrs["steps_recorded"]
        assert 0 < recorded < STEPS
        assert np.all(db["Series/Grid-0.0-node_a1/Vm"][:recorded] > 0)
    assert json.loads((directory / "manifest.json").read_text())["status"] == status
    running = stack.docker("ps", "-q", "--filter",
                           f"label=com.docker.compose.project={stack.project}")
    assert running == "", "containers still running after the run stopped"


@pytest.mark.parametrize("service, sim_id", [("pv", "PV-0"), ("web", "Web-0")])
def test_a_killed_simulator_container_stops_the_run_cleanly(service, sim_id):
    """`docker kill` of one simulator mid-run (the visualiser too: mosaik steps
    it like any other): a stop naming it within 15 s, with the default call
    timeout of 120 s (the kernel notices the dead connection, not a timer),
    the HDF5 file closed with every step before the fault, nothing left running."""
    with slow_run(f"kill-{service}", call_timeout="") as (stack, up, directory):
        victim = stack.docker("ps", "-q", "--filter",
                              f"label=com.docker.compose.project={stack.project}",
                              "--filter", f"label=com.docker.compose.service={service}")
        stack.docker("kill", victim)
        killed = time.monotonic()
        error = next(line for line in up.stdout if line.startswith("error: run"))
        noticed = time.monotonic() - killed
        up.communicate(timeout=120)
        assert noticed < 15, f"the master noticed only after {noticed:.0f} s"
        assert up.returncode != 0
        assert f"simulator '{sim_id}' at {service}:5555" in error, error
        assert "simulated time reached" in error, error
        assert_stopped_cleanly(stack, directory, "failed")


def test_ctrl_c_during_a_run_stops_it_cleanly():
    with slow_run("ctrl-c") as (stack, up, directory):
        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        up.communicate(timeout=120)
        assert up.returncode != 0
        assert_stopped_cleanly(stack, directory, "interrupted")


def test_make_down_during_a_run_stops_it_cleanly():
    with slow_run("down") as (stack, up, directory):
        down = stack.make("down")
        assert down.returncode == 0, down.stderr
        up.communicate(timeout=120)  # its error line may not arrive: down removed the master
        assert up.returncode != 0
        assert_stopped_cleanly(stack, directory, "interrupted")
        record = json.loads((directory / "manifest.json").read_text())
        assert record["simulated_seconds_reached"] > 0
        assert stack.containers() == [] and stack.networks() == []


def test_a_new_student_simulator_swaps_in_for_pv():
    """`make new-sim`, then `make up SWAP=pv=...`: the template runs the demo in
    place of the stock PV service, with nothing else changed."""
    stack = Stack()
    name = f"sgl-test-pv-{os.getpid()}"
    stack.project += "-swap"
    folder = REPO / "services" / name
    try:
        created = subprocess.run(["make", "--no-print-directory", "new-sim", f"NAME={name}"],
                                 cwd=REPO, capture_output=True, text=True)
        assert created.returncode == 0, created.stderr
        up = subprocess.run(
            ["make", "--no-print-directory", "up", f"COMPOSE_PROJECT={stack.project}",
             f"LAB_WEB_PORT={stack.port}", f"RUN_ID={stack.run_id}-swap", f"SWAP=pv={name}"],
            cwd=REPO, capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL)
        assert up.returncode == 0, up.stdout + up.stderr
        directory = REPO / "results" / f"{stack.run_id}-swap"
        record = json.loads((directory / "manifest.json").read_text())
        assert record["simulators"]["PV"]["image"] == f"smartgrid-lab/{name}"
        assert record["simulators"]["Grid"]["image"] == "smartgrid-lab/grid"
        assert results.physics_problems(directory / "demo.hdf5", STEPS) == []
    finally:
        stack.make("down")
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(REPO / "results" / f"{stack.run_id}-swap", ignore_errors=True)
        subprocess.run(["docker", "image", "rm", "-f", f"smartgrid-lab/{name}"],
                       capture_output=True)


@pytest.fixture
def broken_service():
    """A services/ folder whose image runs a broken simulator; removed afterwards."""
    folders = []

    def make_folder(kind: str, broken_class: str = "") -> str:
        name = f"sgl-test-{kind.lower()}-{os.getpid()}"
        folder = REPO / "services" / name
        source = REPO / "tests" / "broken_sims" / ("python" if broken_class else "never_listens")
        shutil.copytree(source, folder)
        if broken_class:
            dockerfile = folder / "Dockerfile"
            dockerfile.write_text(dockerfile.read_text().replace(
                "ARG BROKEN\n", f"ARG BROKEN={broken_class}\n"))
        folders.append(folder)
        return name

    yield make_folder
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(["docker", "image", "rm", "-f", f"smartgrid-lab/{folder.name}"],
                       capture_output=True)


@pytest.mark.parametrize("kind, broken_class, expected", [
    ("never-listens", "", "simulator 'PV-0' never came up: nothing accepted a connection "
                          "at pv:5555 within 10 s"),
    ("hangs", "HangsInStep", "simulator 'PV-0' at pv:5555 did not answer within 5 s"),
])
def test_a_simulator_that_never_comes_up_or_hangs_is_named(broken_service, kind, broken_class,
                                                         expected):
    stack = Stack()
    stack.project += f"-{kind}"
    run_id = f"{stack.run_id}-{kind}"
    name = broken_service(kind, broken_class)
    try:
        started = time.monotonic()
        up = subprocess.run(
            ["make", "--no-print-directory", "up", f"COMPOSE_PROJECT={stack.project}",
             f"LAB_WEB_PORT={stack.port}", f"RUN_ID={run_id}", f"SWAP=pv={name}",
             "LAB_CONNECT_TIMEOUT=10", "LAB_CALL_TIMEOUT=5"],
            cwd=REPO, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
        assert up.returncode != 0
        error = next(line for line in up.stderr.splitlines() if line.startswith("error: "))
        assert expected in error, error
        assert stack.docker("ps", "-q", "--filter",
                            f"label=com.docker.compose.project={stack.project}") == ""
        assert json.loads((REPO / "results" / run_id / "manifest.json").read_text())[
            "status"] == "failed"
    finally:
        stack.make("down")
        shutil.rmtree(REPO / "results" / run_id, ignore_errors=True)
