"""Container health check: is anything LISTENing on a TCP port?

A simulator in mosaik's server mode accepts exactly one connection and takes
it to be mosaik's, so a health probe must never connect. Instead this reads
the kernel's socket tables, which show the listening socket without touching
it.

    python -m smartgrid_lab.listening PORT   # exit 0 if listening, else 1
    python -m smartgrid_lab.listening --free-from 8000 127.0.0.1   # first free port
"""

import socket
import sys
from pathlib import Path

TCP_LISTEN = "0A"  # socket state code in /proc/net/tcp*


def is_listening(port: int, tables=("/proc/net/tcp", "/proc/net/tcp6")) -> bool:
    for table in map(Path, tables):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            local_address, state = line.split()[1], line.split()[3]
            if state == TCP_LISTEN and int(local_address.rsplit(":", 1)[1], 16) == port:
                return True
    return False


def free_port() -> int:
    """A TCP port on loopback that nothing uses right now (for a run's web page)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def first_free(start: int, host: str) -> int | None:
    """The first port from ``start`` that can be bound on ``host`` (for the page)."""
    for port in range(start, min(start + 100, 65536)):
        try:
            socket.create_server((host, port)).close()
            return port
        except OSError:
            continue
    return None


if __name__ == "__main__":
    if sys.argv[1] == "--free-from":
        found = first_free(int(sys.argv[2]), sys.argv[3])
        print(found or "")
        sys.exit(0 if found else 1)
    sys.exit(0 if is_listening(int(sys.argv[1])) else 1)
