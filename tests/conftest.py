"""Shared fixtures: a free port, and one local run of the demo per session."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "scenarios" / "demo.py"
STEPS = 24 * 60  # the demo records one value a minute for a day


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_scenario(scenario: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a scenario file the way `make run-local` does."""
    return subprocess.run(
        [sys.executable, str(scenario), *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture(scope="session")
def local_run(tmp_path_factory) -> Path:
    """The directory of one complete local run of the demo."""
    results = tmp_path_factory.mktemp("results")
    done = run_scenario(DEMO, "--results", str(results), "--run-id", "local",
                        "--serve", f"127.0.0.1:{free_port()}")
    assert done.returncode == 0, done.stderr
    return results / "local"
