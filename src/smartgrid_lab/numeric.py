"""One numeric environment for every run: the same kernels, whatever the machine says.

numpy, scipy (OpenBLAS) and glibc's libm pick their kernels at run time from
the CPU and the environment (``OPENBLAS_CORETYPE``, thread counts, numpy's CPU
dispatch, glibc's hwcaps). Different kernels sum in different orders, so a run
under ``make run-local`` and the same run in containers, or on another
machine, differed in the last bits. Every lab process therefore runs with the
fixed values of :func:`fixed_environment`: single-threaded, OpenBLAS's
baseline kernel for the architecture, numpy's dispatched (beyond-baseline)
code paths off, glibc's FMA/AVX2 variants of libm off.

The images set them as ``ENV`` (services/base/Dockerfile); any other start
(``make run-local``, a user's shell) is fixed by :func:`ensure`, which
re-executes the same command with them before any numeric work, and notes
which of the user's values it replaced in ``LAB_NUMERIC_OVERRIDDEN``.
:func:`report` says what is really in force, for the manifest.
"""

import json
import os
import platform
import sys
from pathlib import Path

OVERRIDDEN = "LAB_NUMERIC_OVERRIDDEN"
"""JSON ``{"pid": ..., "values": {VARIABLE: the user's value}}`` set by :func:`ensure`."""

META_KEY = "lab_numeric"
"""The key under which a simulator container adds :func:`report` to its ``init`` answer."""

ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
"""Threads split sums differently; one thread a process also suits one CPU a container."""

BASELINE = {
    # Prescott (SSE3) exists in every x86-64 OpenBLAS build (threadpoolctl calls
    # it "Katmai", its first alias). The L2 size sets the blocking, so it is
    # fixed too (KiB; OpenBLAS reads it from CPUID otherwise). glibc picks FMA
    # variants of exp, log, pow, sin, cos, ... when FMA and AVX2 are usable.
    "x86_64": {"OPENBLAS_CORETYPE": "Prescott", "OPENBLAS_L2_SIZE": "512",
               "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-FMA4"},
    "aarch64": {"OPENBLAS_CORETYPE": "ARMV8"},
}


def numpy_dispatch() -> list[str]:
    """The CPU features numpy's build can dispatch to beyond its baseline."""
    from numpy._core._multiarray_umath import __cpu_dispatch__
    return list(__cpu_dispatch__)


def fixed_environment() -> dict[str, str]:
    """The lab's numeric environment variables and their values on this machine."""
    return {**ONE_THREAD, **BASELINE.get(platform.machine(), {}),
            "NPY_DISABLE_CPU_FEATURES": " ".join(numpy_dispatch())}


def ensure() -> None:
    """Return if the process runs in the fixed environment; else re-execute
    the same command line in it (the process, its pid and its arguments stay).

    Call it first thing in an entry point, before any numeric work: OpenBLAS
    and numpy read their variables once, when they are loaded.
    """
    fixed = fixed_environment()
    if all(os.environ.get(name) == value for name, value in fixed.items()):
        return
    if json.loads(os.environ.get(OVERRIDDEN, "{}")).get("pid") == os.getpid():
        raise RuntimeError(  # something in this process changed them again: never loop
            "the numeric environment changed after it was fixed: "
            + ", ".join(f"{name}={os.environ.get(name)!r}" for name, value in fixed.items()
                        if os.environ.get(name) != value))
    replaced = {name: os.environ[name] for name, value in fixed.items()
                if name in os.environ and os.environ[name] != value}
    if replaced:
        print("note: for bit-identical results the lab runs with its own numeric "
              "environment instead of " + ", ".join(f"{k}={v}" for k, v in replaced.items()),
              file=sys.stderr, flush=True)
    environment = {**os.environ, **fixed,
                   OVERRIDDEN: json.dumps({"pid": os.getpid(), "values": replaced})}
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)


BLAS_FIELDS = ("internal_api", "version", "architecture", "num_threads", "threading_layer")


def report() -> dict:
    """The numeric environment in force: the variables, what they replaced,
    every BLAS library as threadpoolctl finds it, and the numpy dispatch
    targets still enabled (none, when fixed)."""
    import numpy  # noqa: F401 - load both OpenBLAS copies the lab ships, so
    import scipy.linalg  # noqa: F401 - every process reports the same libraries
    import threadpoolctl
    from numpy._core._multiarray_umath import __cpu_features__

    blas = [{"library": str(Path(info["filepath"]).relative_to(Path(info["filepath"]).parents[1])),
             **{field: info.get(field) for field in BLAS_FIELDS}}
            for info in threadpoolctl.threadpool_info()]
    return {
        "env": {name: os.environ.get(name) for name in fixed_environment()},
        "overridden": json.loads(os.environ.get(OVERRIDDEN, "{}")).get("values", {}),
        "blas": sorted(blas, key=lambda library: library["library"]),
        "numpy_dispatch_enabled": [feature for feature in numpy_dispatch()
                                   if __cpu_features__.get(feature)],
    }


def reports(record: dict) -> dict[str, dict]:
    """Every numeric report in a run's manifest: the master's, then each
    simulator container's (by simulator id)."""
    found = {"master": record.get("numeric")}
    for simulator in record.get("simulators", {}).values():
        found.update(simulator.get("numeric", {}))
    return {where: report for where, report in found.items() if report}


def flat(report: dict) -> dict[str, object]:
    """A report as ``{"env OPENBLAS_CORETYPE": value, "blas LIB architecture": value, ...}``."""
    items = {f"env {name}": value for name, value in report.get("env", {}).items()}
    items["numpy dispatch enabled"] = report.get("numpy_dispatch_enabled")
    for library in report.get("blas", []):
        items.update({f"blas {library['library']} {field}": library.get(field)
                      for field in BLAS_FIELDS})
    return items


def differences(before: dict, after: dict) -> list[str]:
    """How the numeric environments of two runs' manifests differ, one line each."""
    old, new = reports(before), reports(after)
    if not old:
        return ["the first run's manifest records no numeric environment (made before the lab "
                "fixed it), so its kernels may differ"]
    lines = []
    for where in sorted(set(old) | set(new)):
        a, b = flat(old.get(where, {})), flat(new.get(where, {}))
        lines += [f"{where}: {key} {a.get(key)!r} -> {b.get(key)!r}"
                  for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
    return lines
