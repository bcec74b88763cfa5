"""What went over loopback, and when: packets captured by tcpdump, read back as HTTP exchanges with their
server-sent events, each stamped with the kernel's time for the packet that completed it.

The clock of the accuracy benchmark: a TTFT measured by the suite is compared with the same TTFT read off the
wire, so neither the reference provider's sleep nor the client's own bookkeeping is taken on trust.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import re
import shutil
import signal
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "tcpdump"
"""The Debian package that provides the capture (``apt-get install -y tcpdump``)."""
_NANO_PCAP = 0xA1B23C4D
_ETHERNET = 1
_EVENT = re.compile(rb"data: ([^\n]*)\n\n")


def unavailable() -> str | None:
    """Why no capture can be made here, or ``None`` when it can."""
    if shutil.which("tcpdump") is None:
        return f"tcpdump is not installed: apt-get install -y {PACKAGE} (Debian's package), then run again"
    if os.geteuid() != 0:
        return "capturing on loopback needs root (tcpdump opens a raw socket)"
    return None


@dataclass
class Exchange:
    """One request on a connection and the response that followed it, with the kernel's packet times (s)."""

    request_first: float
    request_last: float
    """When the request's first and last bytes went over loopback (its headers and body may be two writes)."""
    response: bytearray = field(default_factory=bytearray)
    ends: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    """For each response packet: where it ends in ``response``, and when it was captured."""

    def events(self) -> list[tuple[float, str]]:
        """Every ``data:`` event of the response, at the time of the packet that carried its last byte. Each
        event is written as one HTTP chunk, so chunk framing never falls inside one."""
        return [
            (self.times[bisect.bisect_left(self.ends, m.end() - 1)], m.group(1).decode())
            for m in _EVENT.finditer(self.response)
        ]


@contextlib.contextmanager
def capture(port: int, path: Path) -> Iterator[None]:
    """Capture loopback TCP traffic to and from ``port`` into ``path`` while the block runs: a pcap file with
    nanosecond timestamps. Packets are handed to tcpdump as they come (``--immediate-mode``), and the capture is
    stopped only once the file has stopped growing, so none is left in a buffer."""
    command = ["tcpdump", "-i", "lo", "-nn", "-U", "--immediate-mode", "-B", "16384"]
    command += ["--time-stamp-precision=nano", "-w", str(path), f"tcp port {port}"]
    dump = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        while "listening on" not in (dump.stderr.readline() if dump.stderr else "listening on"):
            if dump.poll() is not None:
                raise RuntimeError(f"tcpdump exited with status {dump.returncode}")
        yield
        size = -1
        while path.exists() and path.stat().st_size != size:
            size = path.stat().st_size
            time.sleep(0.3)
    finally:
        dump.send_signal(signal.SIGINT)
        dump.communicate(timeout=30)


def exchanges(path: Path, port: int) -> list[Exchange]:
    """The HTTP exchanges with the server on ``port``, in order. One connection at a time is assumed (the
    benchmark sends its requests one after another): a request starts with a packet that starts with a method."""
    found: list[Exchange] = []
    for when, source, payload in _payloads(path):
        if source != port:
            if payload[:8].split(b" ", 1)[0] in (b"GET", b"POST") or not found or found[-1].response:
                found.append(Exchange(when, when))
            else:
                found[-1].request_last = when
        elif found:
            found[-1].response += payload
            found[-1].ends.append(len(found[-1].response))
            found[-1].times.append(when)
    return found


def _payloads(path: Path) -> Iterator[tuple[float, int, bytes]]:
    """Each IPv4 TCP packet with a payload: its capture time (s), source port and payload."""
    data = path.read_bytes()
    magic, _, _, _, _, _, link = struct.unpack("<IHHiIII", data[:24])
    if magic != _NANO_PCAP or link != _ETHERNET:
        raise ValueError(f"{path}: not a nanosecond pcap of an Ethernet-framed loopback capture")
    offset = 24
    while offset + 16 <= len(data):
        seconds, nanos, length, _ = struct.unpack("<IIII", data[offset : offset + 16])
        frame = data[offset + 16 : offset + 16 + length]
        offset += 16 + length
        ip = frame[14:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        tcp = ip[(ip[0] & 15) * 4 :]
        payload = tcp[(tcp[12] >> 4) * 4 :]
        if payload:
            yield seconds + nanos / 1e9, struct.unpack("!H", tcp[:2])[0], payload
