"""A small Android device endpoint for tests: it speaks the ADB wire protocol over TCP the way adbd does
for ``adb connect HOST:PORT``, so the real ``adb`` client and server talk to it as to a phone.

What it implements (system/core/adb/protocol.txt, shell_protocol.h):
- messages: a 24-byte little-endian header (command, arg0, arg1, data length, data checksum,
  command ^ 0xffffffff) and the payload;
- the handshake: the host's CNXN is answered with AUTH TOKEN; a SIGNATURE (or, once the host has no key
  left, its RSAPUBLICKEY) is accepted with the device's CNXN banner when ``authorized``, or answered with
  another TOKEN forever when not (the RSA prompt on the phone is never accepted: ``unauthorized``);
- streams: OPEN -> OKAY, output in WRTE chunks each waiting for the host's OKAY, then CLSE;
- services ``shell:CMD`` (the v1 raw stream, no exit status), ``shell,v2,raw:CMD`` (shell protocol v2
  packets: id byte + 32-bit length; stdout 1, stderr 2, exit 3) and ``exec:CMD``.

Answers are scripted per command string: ``Answer(stdout, exit, stderr)``, ``HANG`` (open the stream,
never answer) or ``DROP`` (close the TCP connection, a phone unplugged mid-command). ``mute()`` makes the
device stop answering anything (an offline phone); ``muted=True`` at start never completes the handshake.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import threading
from dataclasses import dataclass

A_SYNC, A_CNXN, A_AUTH, A_OPEN = 0x434E5953, 0x4E584E43, 0x48545541, 0x4E45504F
A_OKAY, A_CLSE, A_WRTE = 0x59414B4F, 0x45534C43, 0x45545257
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT = 1, 2, 3
HEADER = struct.Struct("<6I")


@dataclass(frozen=True)
class Answer:
    stdout: bytes | str = b""
    exit: int = 0
    stderr: bytes | str = b""

    def out(self) -> bytes:
        return self.stdout.encode() if isinstance(self.stdout, str) else self.stdout

    def err(self) -> bytes:
        return self.stderr.encode() if isinstance(self.stderr, str) else self.stderr


HANG = "hang"
DROP = "drop"


def packet(command: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    return HEADER.pack(command, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, command ^ 0xFFFFFFFF) + data


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


class _Stream:
    def __init__(self, local: int, remote: int) -> None:
        self.local, self.remote = local, remote
        self.acked = threading.Event()
        self.closed = False


class _Connection:
    def __init__(self, device: "AdbDevice", sock: socket.socket) -> None:
        self.device, self.sock = device, sock
        self.lock = threading.Lock()
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.maxdata = 4096
        self.online = False

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        with self.lock:
            try:
                self.sock.sendall(packet(command, arg0, arg1, data))
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def serve(self) -> None:
        try:
            while True:
                head = _recv_exact(self.sock, HEADER.size)
                if head is None:
                    return
                command, arg0, arg1, length, _crc, magic = HEADER.unpack(head)
                if magic != command ^ 0xFFFFFFFF or length > 16 * 1024 * 1024:
                    return
                data = _recv_exact(self.sock, length) if length else b""
                if data is None:
                    return
                if self.device.muted:
                    continue
                self.handle(command, arg0, arg1, data)
        finally:
            self.close()
            self.device._forget(self)

    def handle(self, command: int, arg0: int, arg1: int, data: bytes) -> None:
        dev = self.device
        if command == A_CNXN:
            self.maxdata = max(256, min(arg1 or 4096, MAX_PAYLOAD))
            self.send(A_AUTH, AUTH_TOKEN, 0, os.urandom(20))
        elif command == A_AUTH:
            if dev.authorized and arg0 in (AUTH_SIGNATURE, AUTH_RSAPUBLICKEY):
                self.online = True
                self.send(A_CNXN, A_VERSION, MAX_PAYLOAD, dev.banner().encode())
            elif arg0 == AUTH_SIGNATURE:
                self.send(A_AUTH, AUTH_TOKEN, 0, os.urandom(20))
            # RSAPUBLICKEY while unauthorized: the prompt on the phone waits; nothing is sent
        elif command == A_OPEN and self.online:
            local = self.next_id
            self.next_id += 1
            stream = _Stream(local, arg0)
            self.streams[local] = stream
            service = data.split(b"\0", 1)[0].decode("utf-8", "replace")
            threading.Thread(target=self.run_service, args=(stream, service), daemon=True).start()
        elif command == A_OKAY:
            stream = self.streams.get(arg1)
            if stream is not None:
                stream.acked.set()
        elif command == A_WRTE:
            stream = self.streams.get(arg1)
            if stream is not None and not stream.closed:
                self.send(A_OKAY, stream.local, stream.remote)
        elif command == A_CLSE:
            stream = self.streams.pop(arg1, None)
            if stream is not None:
                stream.closed = True
                stream.acked.set()

    def write(self, stream: _Stream, data: bytes) -> bool:
        for i in range(0, len(data), self.maxdata):
            if stream.closed:
                return False
            stream.acked.clear()
            self.send(A_WRTE, stream.local, stream.remote, data[i:i + self.maxdata])
            if not stream.acked.wait(30) or stream.closed:
                return False
        return True

    def run_service(self, stream: _Stream, service: str) -> None:
        kind, _, command = service.partition(":")
        name, *options = kind.split(",")
        if name not in ("shell", "exec"):
            self.send(A_CLSE, 0, stream.remote)  # unknown service: the open fails
            return
        answer = self.device.answer(command)
        self.send(A_OKAY, stream.local, stream.remote)
        if answer == HANG:
            return
        if answer == DROP:
            self.close()
            return
        assert isinstance(answer, Answer)
        if name == "shell" and "v2" in options:
            body = b""
            if answer.out():
                body += struct.pack("<BI", SHELL_STDOUT, len(answer.out())) + answer.out()
            if answer.err():
                body += struct.pack("<BI", SHELL_STDERR, len(answer.err())) + answer.err()
            body += struct.pack("<BI", SHELL_EXIT, 1) + bytes([answer.exit & 0xFF])
        else:
            body = answer.out() + (answer.err() if name == "shell" else b"")
        if self.write(stream, body):
            stream.closed = True
            self.streams.pop(stream.local, None)
            self.send(A_CLSE, stream.local, stream.remote)


class AdbDevice:
    """One scripted phone listening on 127.0.0.1:PORT (PORT chosen by the kernel)."""

    def __init__(self, answers: dict[str, Answer | str] | None = None, *, authorized: bool = True,
                 model: str = "Pixel 7", product: str = "panther", device: str = "panther",
                 features: tuple[str, ...] = ("shell_v2", "cmd", "stat_v2"), muted: bool = False) -> None:
        self.answers: dict[str, Answer | str] = dict(answers or {})
        self.authorized = authorized
        self.model, self.product, self.device_name = model, product, device
        self.features = features
        self.muted = muted
        self.commands: list[str] = []  # every command the host ran, in order
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._connections: list[_Connection] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    def banner(self) -> str:
        return (f"device::ro.product.name={self.product};ro.product.model={self.model};"
                f"ro.product.device={self.device_name};features={','.join(self.features)}")

    def answer(self, command: str) -> Answer | str:
        """The scripted answer; ``CMD; echo TEXT$?`` is run the way sh runs it (TEXT and CMD's status
        appended to the output, exit status 0)."""
        with self._lock:
            self.commands.append(command)
        m = re.fullmatch(r"(.*); echo ([\w=-]*)\$\?", command, re.S)
        inner = m.group(1) if m else command
        found = self.answers.get(inner)
        if found is None:
            word = inner.split(" ", 1)[0]
            found = Answer(b"", 127, f"/system/bin/sh: {word}: inaccessible or not found\n")
        if m and isinstance(found, Answer):
            return Answer(found.out() + f"{m.group(2)}{found.exit}\n".encode(), 0, found.err())
        return found

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            conn = _Connection(self, sock)
            with self._lock:
                self._connections.append(conn)
            threading.Thread(target=conn.serve, daemon=True).start()

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)

    def mute(self) -> None:
        """Stop answering (the phone hangs); connections stay open."""
        self.muted = True

    def drop(self) -> None:
        """Close every connection (the cable is pulled); new ones are still accepted."""
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            conn.close()

    def stop(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self.drop()

    def __enter__(self) -> "AdbDevice":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
