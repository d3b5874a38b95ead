"""One file for an offline lab room: the lab, its images and its wheels.

    python -m smartgrid_lab.bundle DEST_DIR [--student]

Writes ``DEST_DIR/smartgrid-lab-<version>[-student].tar.gz`` and its
``.sha256``. Unpacked, the archive is a complete lab folder that needs no
network: ``images.tar`` (``docker save`` of every lab image, loaded by
``make load`` or ``docker load -i images.tar``), ``build/wheelhouse`` (the
locked wheels, for the images' Python and for a host venv on Python 3.12 or
3.13), and a ``BUNDLE`` file that tells the Makefile to use them instead of
building from the network. ``--student`` leaves the exercises' solutions out
(the images never hold them: .dockerignore keeps them out of the base image).
"""

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from smartgrid_lab.student_copy import REPO, SOLUTION, lab_files

INSTALL = """\
Smart Grid Lab {version}{variant}: an offline lab room from one file.

On each lab PC (Linux with Docker Engine, the Compose tool and make; no network needed):

    tar xzf smartgrid-lab-{version}{suffix}.tar.gz
    cd smartgrid-lab-{version}{suffix}
    make load          # or, without make:  docker load -i images.tar
    make up            # the demo; make exercises lists the exercises

make new-sim, make check-sim and make up SWAP=... work as in the README, with
no download and no build from the network. With Python 3.12 or 3.13 on the PC,
the lab's host commands run in a venv made from build/wheelhouse; without, in
the lab's own image (check-sim then needs Python 3.12+ on the PC).
"""


def version() -> str:
    """The lab's version as git describes the checkout (commit, and -dirty)."""
    described = subprocess.run(["git", "describe", "--tags", "--always", "--dirty"],
                               cwd=REPO, capture_output=True, text=True, check=True)
    return described.stdout.strip()


def lab_images() -> list[str]:
    """Every image the lab runs or builds on: the Python image, the base and
    one per service folder, as Docker has them now."""
    listed = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "smartgrid-lab/*"],
        capture_output=True, text=True, check=True).stdout.split()
    folders = {path.parent.name for path in (REPO / "services").glob("*/Dockerfile")}
    return sorted(name for name in listed
                  if name.startswith("smartgrid-lab/python:")
                  or name.removeprefix("smartgrid-lab/").removesuffix(":latest") in folders)


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    archive.addfile(info, io.BytesIO(data))


def build(destination: Path, student: bool) -> Path:
    lab_version = version()
    suffix = "-student" if student else ""
    top = f"smartgrid-lab-{lab_version}{suffix}"
    images = lab_images()
    missing = {"smartgrid-lab/base:latest", "smartgrid-lab/master:latest"} - set(images)
    if missing:
        raise SystemExit(f"error: the images {', '.join(sorted(missing))} are not built: "
                         "run `make images` first (make bundle does).")
    destination.mkdir(parents=True, exist_ok=True)
    saved = destination / "images.tar"
    subprocess.run(["docker", "save", "-o", str(saved), *images], check=True)
    files = [name for name in lab_files() if not (student and SOLUTION.match(name))]
    wheels = {wheel.name: wheel for folder in ("wheelhouse", "wheelhouse-py312")
              for wheel in (REPO / "build" / folder).glob("*.whl")}
    marker = {"version": lab_version, "student": student, "images": images,
              "wheels": sorted(wheels)}

    archive_path = destination / f"{top}.tar.gz"
    with tarfile.open(archive_path, "w:gz", compresslevel=1) as archive:
        for name in files:
            archive.add(REPO / name, f"{top}/{name}", recursive=False)
        for name, wheel in sorted(wheels.items()):
            archive.add(wheel, f"{top}/build/wheelhouse/{name}")
        archive.add(saved, f"{top}/images.tar")
        add_bytes(archive, f"{top}/BUNDLE", json.dumps(marker, indent=1).encode())
        add_bytes(archive, f"{top}/INSTALL.txt", INSTALL.format(
            version=lab_version, suffix=suffix,
            variant=" (students' copy: no solutions)" if student else "").encode())
    saved.unlink()

    digest = hashlib.sha256()
    with archive_path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    (destination / f"{top}.tar.gz.sha256").write_text(f"{digest.hexdigest()}  {archive_path.name}\n")
    size = archive_path.stat().st_size / 2**20
    print(f"Bundle: {archive_path} ({size:.0f} MiB, {len(images)} images, {len(files)} files"
          f"{', no solutions' if student else ''}); sha256 in {archive_path.name}.sha256")
    return archive_path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("destination", type=Path)
    parser.add_argument("--student", action="store_true", help="leave the solutions out")
    options = parser.parse_args(argv)
    build(options.destination, options.student)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
