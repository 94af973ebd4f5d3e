"""The asyncio reactor writes without asking the selector first (config/daphne_http.py): every byte
still arrives, in order, and a connection closed after its output still closes once drained.

Each case runs Twisted's real asyncio reactor, patched as daphne runs it, in its own process over
real loopback sockets; the payloads are larger than the kernel's buffers and Twisted's per-write
limit, so the server must hand a connection to the selector part-way and be woken to write the rest.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import ROOT

MIB = 2**20

SERVER = textwrap.dedent(
    """
    from twisted.internet import asyncioreactor

    asyncioreactor.install()

    from twisted.internet import protocol, reactor

    from config import daphne_http

    daphne_http.install()
    assert reactor.addWriter.__func__.__module__ == daphne_http.__name__  # patched, as in daphne

    def payload(size):
        return (bytes(range(256)) * (size // 256 + 1))[:size]

    class Answer(protocol.Protocol):
        # One line asks for: a size, how many writes to split it in, and whether to close after it.
        def dataReceived(self, data):
            size, pieces, close = data.split()
            size, pieces = int(size), int(pieces)
            body = payload(size)
            step = -(-size // pieces)
            for start in range(0, size, step):
                self.transport.write(body[start:start + step])
            if close == b"close":
                self.transport.loseConnection()

    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Answer), interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()
    """
)


def payload(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.strip().isdigit(), line + process.stdout.read()
        yield int(line)
    finally:
        process.kill()
        process.wait(timeout=10)


def ask(port: int, size: int, pieces: int, *, close: bool, receive_buffer: int | None = None) -> bytes:
    """Everything the server sends back: until it closes, or until `size` bytes when it keeps the line open."""
    with socket.socket() as sock:
        if receive_buffer:
            # A slow phone's small window: most of the output waits in the server's buffers.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(15)
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"{size} {pieces} {'close' if close else 'open'}\n".encode())
        received = bytearray()
        while close or len(received) < size:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return bytes(received)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_one_write_larger_than_every_buffer_arrives_whole_and_then_the_connection_closes(server):
    assert digest(ask(server, 24 * MIB, 1, close=True)) == digest(payload(24 * MIB))


def test_many_small_writes_arrive_in_order_and_then_the_connection_closes(server):
    assert digest(ask(server, 4 * MIB, 4096, close=True)) == digest(payload(4 * MIB))


def test_a_reader_with_a_small_window_still_gets_every_byte(server):
    assert digest(ask(server, 8 * MIB, 64, close=True, receive_buffer=4096)) == digest(payload(8 * MIB))


def test_a_connection_kept_open_delivers_everything_written_to_it(server):
    # No close to flush it out: the last write must leave without one.
    assert ask(server, 1000, 10, close=False) == payload(1000)


def test_thirty_connections_written_in_the_same_pass_each_get_their_own_bytes_whole(server):
    sizes = [MIB + n * 4099 for n in range(30)]  # different lengths: a mix-up would show
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda size: ask(server, size, 7, close=True), sizes))
    assert [len(answer) for answer in answers] == sizes
    assert all(answer == payload(size) for answer, size in zip(answers, sizes, strict=True))


def test_a_closed_socket_mid_answer_does_not_stop_the_server_for_others(server):
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends a reset
        sock.sendall(f"{32 * MIB} 1 close\n".encode())
        sock.recv(1024)  # the answer has begun; the peer resets the connection with the rest unsent
    assert ask(server, 100_000, 3, close=True) == payload(100_000)
