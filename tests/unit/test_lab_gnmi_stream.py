"""The lab's gNMI target sends every state change to a STREAM subscriber,
including one made while the subscription takes its initial snapshot: a
device does not lose a change because a collector subscribed at that moment
(the rolling-restart test lost such a pair in CI). In-process gRPC server on
loopback; no Kafka."""
from __future__ import annotations

import json
import queue
import threading
import time

import grpc
import pytest
from pygnmi.spec.v080 import gnmi_pb2, gnmi_pb2_grpc

from fabtel import gnmi_paths as gp
from fabtel.config import load_config
from fabtel.lab import gnmi_target
from fabtel.lab.model import LabFabric
from fabtel.localstack.ports import free_port

from conftest import EXAMPLE

DEVICE, IFACE = "spine2", "ethernet-1/3"
ADMIN = f"/interface[name={IFACE}]/admin-state"


@pytest.fixture()
def target():
    fabric = LabFabric(load_config(EXAMPLE))
    address = f"127.0.0.1:{free_port()}"
    t = gnmi_target.DeviceTarget(fabric, fabric.nodes[DEVICE], address)
    t.start()
    channel = grpc.insecure_channel(address)
    try:
        yield fabric, t, gnmi_pb2_grpc.gNMIStub(channel)
    finally:
        channel.close()
        t.stop()


def _admin_values(stub, mode=gnmi_pb2.SubscriptionList.STREAM):
    """Subscribe ON_CHANGE to the admin state; a queue of its values ('sync' marks the sync response)."""
    req = gnmi_pb2.SubscribeRequest(subscribe=gnmi_pb2.SubscriptionList(
        subscription=[gnmi_pb2.Subscription(path=gp.to_proto(gp.parse(ADMIN), gnmi_pb2), mode=gnmi_pb2.ON_CHANGE)],
        mode=mode, encoding=gnmi_pb2.JSON_IETF))
    done = threading.Event()

    def requests():
        yield req
        done.wait(10)

    call = stub.Subscribe(requests())
    out: queue.Queue = queue.Queue()

    def read():
        try:
            for resp in call:
                if resp.sync_response:
                    out.put("sync")
                for u in resp.update.update:
                    out.put(json.loads(u.val.json_ietf_val))
        except grpc.RpcError:
            pass

    threading.Thread(target=read, daemon=True).start()
    return call, done, out


def _take(out: queue.Queue, n: int, timeout: float = 5.0) -> list:
    got, end = [], time.monotonic() + timeout
    while len(got) < n and time.monotonic() < end:
        try:
            got.append(out.get(timeout=max(end - time.monotonic(), 0.01)))
        except queue.Empty:
            break
    return got


def test_a_change_during_the_initial_snapshot_is_streamed(target, monkeypatch):
    fabric, t, stub = target
    real = gnmi_target.snapshot
    calls = []

    def snapshot_then_change(fab, node):
        leaves = real(fab, node)
        if not calls:              # the device changes just after the subscription's snapshot
            calls.append(1)
            assert fabric.set_admin(DEVICE, IFACE, False, time.time_ns())
        return leaves

    monkeypatch.setattr(gnmi_target, "snapshot", snapshot_then_change)
    call, done, out = _admin_values(stub)
    try:
        assert _take(out, 3) == ["enable", "sync", "disable"]
        # And the next change back is a change too, not the snapshot's value again.
        assert fabric.set_admin(DEVICE, IFACE, True, time.time_ns())
        assert _take(out, 1) == ["enable"]
    finally:
        done.set()
        call.cancel()


def test_only_stream_subscriptions_are_counted_and_each_leaves_when_it_ends(target):
    fabric, t, stub = target
    call, done, out = _admin_values(stub, gnmi_pb2.SubscriptionList.ONCE)
    assert _take(out, 2) == ["enable", "sync"]
    assert t.servicer.streams == {}
    done.set()
    call, done, out = _admin_values(stub)
    assert _take(out, 2) == ["enable", "sync"]
    assert len(t.servicer.streams) == 1
    done.set()
    call.cancel()
    deadline = time.monotonic() + 5
    while t.servicer.streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert t.servicer.streams == {}
