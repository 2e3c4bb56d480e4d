"""bench.peers.ensure: a build under way in another process (`./run tests`
builds the peers in the background) is waited for, not started twice."""
from __future__ import annotations

import fcntl
import threading
import time

import pytest


def test_a_peer_being_built_elsewhere_is_waited_for(tmp_path, monkeypatch):
    from fabtel.bench import peers
    monkeypatch.setenv("FABTEL_CACHE", str(tmp_path))
    binary = peers.path("goflow2")
    binary.parent.mkdir(parents=True)
    monkeypatch.setattr(peers, "_build", lambda *a: pytest.fail("built twice"))
    lock = open(binary.parent / ".build-lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)                 # the other builder, half way

    def finish():
        time.sleep(0.3)
        binary.write_text("#!/bin/sh\n")
        lock.close()                                 # its build done: the lock released
    threading.Thread(target=finish).start()
    t0 = time.monotonic()
    assert peers.ensure("goflow2") == binary
    assert time.monotonic() - t0 >= 0.25             # it waited for the other build


def test_a_peer_not_built_is_built_once_under_the_lock(tmp_path, monkeypatch):
    from fabtel.bench import peers
    monkeypatch.setenv("FABTEL_CACHE", str(tmp_path))
    built = []

    def build(name, binary, progress):
        built.append(name)
        binary.write_text("#!/bin/sh\n")
        return binary
    monkeypatch.setattr(peers, "_build", build)
    assert peers.ensure("gobmp") == peers.ensure("gobmp") == peers.path("gobmp")
    assert built == ["gobmp"]
