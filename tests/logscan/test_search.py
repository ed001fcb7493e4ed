"""The substring search of ``trace`` over big files: StringZilla's SIMD search, ``mmap.find`` and
``pread`` find the same offsets (needles across window ends included); a search child that dies is
made up for by reading; an early search that is not needed is cancelled and reaped."""

from __future__ import annotations

import faulthandler
import os
import random
import signal

from autoglm_doctor.logscan import bigfile


def _file(tmp_path, needles: list[bytes]) -> tuple[str, int]:
    rnd = random.Random(5)
    parts = []
    for i in range(4000):
        parts.append(f"{rnd.getrandbits(128):032x} line {i}\n".encode())
        if i % 397 == 0:
            parts.append(b"x" + needles[i % len(needles)] + b"\n")
    path = tmp_path / "big.log"
    path.write_bytes(b"".join(parts))
    return str(path), path.stat().st_size


def test_every_search_finds_the_same_offsets(tmp_path, monkeypatch):
    needles = [b"4bf92f3577b34da6a3ce929d0e0e4736", b"chatcmpl-"]
    path, size = _file(tmp_path, needles)
    data = open(path, "rb").read()
    truth = sorted((i, n) for n in needles for i in range(len(data)) if data.startswith(n, i))
    assert len(truth) == 11
    cut = truth[3][0] + 5  # a window end inside a needle
    simd = bigfile.find_offsets(path, needles, 0, cut) + bigfile.find_offsets(path, needles, cut, size)
    assert bigfile._simd_text(memoryview(b"x")) is not None  # the [fast] extra is installed for the tests
    monkeypatch.setattr(bigfile, "_simd_text", lambda view: None)
    plain = bigfile.find_offsets(path, needles, 0, cut) + bigfile.find_offsets(path, needles, cut, size)
    read = bigfile.find_offsets_read(path, needles, 0, size, block=4096)
    for jobs in (1, 3):
        hits, note = bigfile.search(path, needles, size, jobs)
        assert sorted(hits) == truth and note is None
    assert sorted(simd) == sorted(plain) == sorted(read) == truth


def test_a_dead_search_child_is_made_up_for(tmp_path, monkeypatch):
    needles = [b"4bf92f3577b34da6a3ce929d0e0e4736"]
    path, size = _file(tmp_path, needles)

    def bus_error(*_args):  # what touching a mapped page past a truncated end does
        faulthandler.disable()  # (pytest's handler would print the child's stack)
        os.kill(os.getpid(), signal.SIGBUS)

    monkeypatch.setattr(bigfile, "find_offsets", bus_error)
    hits, note = bigfile.search(path, needles, size, 2)
    assert len(hits) == 11 and "search worker died" in note


def test_an_unneeded_early_search_is_reaped(tmp_path):
    needles = [b"4bf92f3577b34da6a3ce929d0e0e4736"]
    path, size = _file(tmp_path, needles)
    pending = bigfile.start_search(path, needles, size, 2)
    pids = [child[0] for child in pending.children]
    pending.cancel()
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        raise AssertionError(f"child {pid} not reaped")
