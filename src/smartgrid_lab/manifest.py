"""The run manifest: everything needed to reproduce a run and to check it.

``results/<run-id>/manifest.json`` records what ran (scenario file and
parameters, simulators and their images, locked and installed package
versions, input data), when, and what came out (a checksum of every HDF5
dataset), so two runs can be compared without opening their HDF5 files.
"""

import hashlib
import importlib.metadata
import json
import platform
import sys
import time
from pathlib import Path

import h5py

REPO = Path(__file__).resolve().parents[2]
LOCK_FILE = REPO / "requirements.lock"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def locked_packages(lock_file: Path = LOCK_FILE) -> dict[str, str]:
    """The installed version of every package the lock file pins."""
    names = [
        line.split("==")[0]
        for line in lock_file.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    ]
    return {name: importlib.metadata.version(name) for name in names}


def open_when_closed(hdf5_file: Path, wait: float = 20.0) -> h5py.File:
    """Open an HDF5 file for reading once its writer has closed it.

    After a failed run the recorder may still be writing out its buffer when
    the master gets here; HDF5's file lock says so.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            return h5py.File(hdf5_file, "r")
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def dataset_checksums(hdf5_file: Path) -> dict[str, dict]:
    """Shape, dtype and SHA-256 of the raw bytes of every dataset."""
    checksums = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            values = item[()]
            checksums[name] = {
                "shape": list(item.shape),
                "dtype": str(item.dtype),
                "sha256": hashlib.sha256(values.tobytes()).hexdigest(),
            }

    with open_when_closed(hdf5_file) as db:
        db.visititems(visit)
    return checksums


def host_info() -> dict:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": platform.node(),
    }


def write(path: Path, manifest: dict) -> None:
    Path(path).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
