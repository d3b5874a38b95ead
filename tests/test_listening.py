"""The container health check sees a listening socket without connecting to it."""

import socket

from smartgrid_lab.listening import is_listening


def test_sees_a_listening_port_and_does_not_connect():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert is_listening(port)
        server.setblocking(False)
        try:  # nothing may be waiting to be accepted: the probe never connected
            server.accept()
            raise AssertionError("the health check opened a connection")
        except BlockingIOError:
            pass
    assert not is_listening(port)


def test_a_bound_but_not_listening_port_is_not_ready():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        assert not is_listening(sock.getsockname()[1])
