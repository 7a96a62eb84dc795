"""The grader's end of a kernel's ZeroMQ sockets, read byte by byte under a budget.

A kernel talks ZMTP 3 (ZeroMQ's wire protocol) over ``ipc`` sockets. libzmq
checks its size limit per frame and queues the frames of a message until the
last one arrives, invisibly to the reader: a kernel that sends frames and
never ends the message makes a libzmq reader's memory grow without bound. So
the grader speaks ZMTP itself on plain Unix sockets (`Connection`, a DEALER
with the NULL mechanism) and accounts for every byte before it reads it:

* one message (all its frames, headers included) may hold at most
  ``Budget.per_message`` bytes and ``Budget.max_frames`` frames;
* all messages from one submission's kernels together at most
  ``Budget.total`` bytes;

a frame whose declared size would cross either bound is refused before its
bytes are read, and `Overflow` is raised (the sandbox kills the kernel). The
grader's memory for one kernel is therefore at most one message
(``per_message``) plus one read buffer (`CHUNK`), whatever the kernel sends.

`Channels` holds the shell and stdin connections of one kernel (same routing
identity, as jupyter_client's channels have) and `Channels.wait_reply` waits
for the reply to a request, answering the kernel's ``input_request`` messages
on stdin with a callback meanwhile (how the grader serves `use_reference`
calls, see `autograder.remote`).
"""
from __future__ import annotations

import errno
import select
import socket
import struct
import time
from dataclasses import dataclass
from typing import Callable

__all__ = ["Budget", "Channels", "Connection", "Overflow"]

CHUNK = 1 << 20
_GREETING = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL" + b"\x00" * 16 + b"\x00" + b"\x00" * 31
_MORE, _LONG, _COMMAND = 0x01, 0x02, 0x04


class Overflow(Exception):
    """The kernel sent more than the budget allows (the message says which bound)."""


class ProtocolViolation(Overflow):
    """The kernel broke ZMTP (a malformed greeting, handshake or frame)."""


@dataclass
class Budget:
    """Byte bounds on what the grader accepts from one submission's kernels (shared by their connections)."""

    per_message: int = 28 << 20
    total: int = 512 << 20
    max_frames: int = 256
    received: int = 0

    def spend(self, n: int, message_so_far: int, frames: int) -> None:
        if frames > self.max_frames:
            raise Overflow(f"it sent a message of more than {self.max_frames} frames (the limit)")
        if message_so_far + n > self.per_message:
            raise Overflow(f"it sent a message of more than {self.per_message >> 20} MB (the limit)")
        if self.received + n > self.total:
            raise Overflow(f"it sent more than {self.total >> 20} MB to the grader in all (the limit)")
        self.received += n


class Connection:
    """One ZMTP 3 DEALER connection to a kernel's (ROUTER) socket at a Unix socket path."""

    def __init__(self, path: str, identity: bytes, budget: Budget):
        self.path = path
        self.identity = identity
        self.budget = budget
        self.sock: socket.socket | None = None
        self.closed = False  # the kernel closed its end
        self._buffer = bytearray()
        self._frames: list[bytes] = []
        self._message_bytes = 0
        self._head_accounted = False

    # -------------------------------------------------------------- connect
    def try_connect(self) -> bool:
        """Connect and handshake; False while the kernel has not bound its socket yet."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            return False
        except OSError:
            sock.close()
            raise
        try:
            sock.settimeout(10)
            ready = b"\x05READY" + self._property(b"Socket-Type", b"DEALER") + self._property(b"Identity", self.identity)
            sock.sendall(_GREETING + bytes([_COMMAND, len(ready)]) + ready)
            greeting = self._recv_exact(sock, 64)
            if greeting[0] != 0xFF or greeting[9] != 0x7F or greeting[10] < 3 or greeting[12:16] != b"NULL":
                raise ProtocolViolation("its socket did not greet as ZMTP 3 with the NULL mechanism")
            flags = self._recv_exact(sock, 1)[0]
            if not flags & _COMMAND:
                raise ProtocolViolation("its socket did not send the READY command")
            size = struct.unpack(">Q", self._recv_exact(sock, 8))[0] if flags & _LONG else self._recv_exact(sock, 1)[0]
            if size > 4096:
                raise ProtocolViolation("its READY command is too large")
            body = self._recv_exact(sock, size)
            if not body.startswith(b"\x05READY"):
                raise ProtocolViolation("its socket refused the handshake")
        except (OSError, socket.timeout) as exc:
            sock.close()
            raise ProtocolViolation(f"the ZMTP handshake failed ({exc})") from None
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        self.sock = sock
        return True

    @staticmethod
    def _property(name: bytes, value: bytes) -> bytes:
        return bytes([len(name)]) + name + struct.pack(">I", len(value)) + value

    @staticmethod
    def _recv_exact(sock: socket.socket, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = sock.recv(n - len(out))
            if not chunk:
                raise ProtocolViolation("its socket closed during the handshake")
            out += chunk
        return bytes(out)

    def fileno(self) -> int:
        return self.sock.fileno()

    # ----------------------------------------------------------------- send
    def send_multipart(self, frames, copy: bool = True, **_ignored) -> None:
        """Send one message (what jupyter_client's Session.send calls)."""
        out = bytearray()
        for i, frame in enumerate(frames):
            data = bytes(frame)
            more = _MORE if i < len(frames) - 1 else 0
            if len(data) < 256:
                out += bytes([more, len(data)])
            else:
                out += bytes([more | _LONG]) + struct.pack(">Q", len(data))
            out += data
        view, deadline = memoryview(out), time.monotonic() + 30
        while view:
            try:
                sent = self.sock.send(view)
                view = view[sent:]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Overflow("it stopped reading its socket") from None
                select.select([], [self.sock], [], 0.25)
            except OSError as exc:
                self.closed = True
                raise ConnectionError(f"the kernel's socket is closed ({exc.strerror})") from None

    # -------------------------------------------------------------- receive
    def read(self) -> list[list[bytes]]:
        """Read what is available (never blocks); return the complete messages. Raises `Overflow`."""
        if self.closed or self.sock is None:
            return []
        try:
            chunk = self.sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return []
            chunk = b""
        if not chunk:
            self.closed = True
            return []
        self._buffer += chunk
        return self._parse()

    def _parse(self) -> list[list[bytes]]:
        messages, buf, pos = [], self._buffer, 0
        accounted = self._head_accounted  # the frame at offset 0 was paid for by an earlier read
        while True:
            if len(buf) - pos < 2:
                accounted = False
                break
            flags = buf[pos]
            if flags & ~(_MORE | _LONG | _COMMAND):
                raise ProtocolViolation("it sent a malformed ZMTP frame")
            if flags & _LONG:
                if len(buf) - pos < 9:
                    accounted = False
                    break
                size, header = struct.unpack_from(">Q", buf, pos + 1)[0], 9
            else:
                size, header = buf[pos + 1], 2
            if not accounted:  # pay for the frame when its header is seen, before its bytes are read
                if flags & _COMMAND:
                    if size > 4096:
                        raise ProtocolViolation("it sent an oversized ZMTP command")
                    self.budget.spend(size + header, 0, 0)
                else:
                    self.budget.spend(size + header, self._message_bytes, len(self._frames) + 1)
                    self._message_bytes += size + header
                accounted = True
            if len(buf) - pos < header + size:
                break
            data = bytes(buf[pos + header:pos + header + size])
            pos += header + size
            accounted = False
            if flags & _COMMAND:
                self._command(data)
                continue
            self._frames.append(data)
            if not flags & _MORE:
                messages.append(self._frames)
                self._frames, self._message_bytes = [], 0
        del buf[:pos]
        self._head_accounted = accounted
        return messages

    def _command(self, body: bytes) -> None:
        if body.startswith(b"\x04PING") and len(body) >= 7:
            pong = b"\x04PONG" + body[7:]
            try:
                self.sock.send(bytes([_COMMAND, len(pong)]) + pong)
            except OSError:
                pass

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
        self._buffer = bytearray()
        self._frames = []


class Channels:
    """The shell and stdin connections of one kernel (``<prefix>-<port>`` ipc paths), with one `Budget`."""

    def __init__(self, ipc_prefix: str, shell_port: int, stdin_port: int, identity: bytes, budget: Budget):
        self.budget = budget
        self.shell = Connection(f"{ipc_prefix}-{shell_port}", identity, budget)
        self.stdin = Connection(f"{ipc_prefix}-{stdin_port}", identity, budget)

    def connect(self, deadline: float, alive: Callable[[], bool]) -> bool:
        """Connect both channels, retrying until the kernel has bound them; False when it died or time ran out."""
        while True:
            if self.shell.sock is None:
                self.shell.try_connect()
            if self.shell.sock is not None and self.stdin.sock is None:
                self.stdin.try_connect()
            if self.shell.sock is not None and self.stdin.sock is not None:
                return True
            if time.monotonic() > deadline or not alive():
                return False
            time.sleep(0.01)

    def wait(self, deadline: float, alive: Callable[[], bool], accept: Callable[[str, list[bytes]], object]):
        """Read both channels until `accept(channel, frames)` returns something not None (returned), or the deadline.

        Returns None at the deadline; raises `Overflow`, or the `KernelDied`-like error `alive` raises.
        """
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            conns = [c for c in (self.shell, self.stdin) if c.sock is not None and not c.closed]
            if conns:
                readable, _, _ = select.select(conns, [], [], min(remaining, 0.25))
            else:
                readable = []
                time.sleep(min(remaining, 0.25))
            if not readable:
                if not alive():
                    return None
                continue
            for conn in readable:
                name = "shell" if conn is self.shell else "stdin"
                for frames in conn.read():
                    found = accept(name, frames)
                    if found is not None:
                        return found

    def close(self) -> None:
        self.shell.close()
        self.stdin.close()
