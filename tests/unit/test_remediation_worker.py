"""The remediation worker's decisions without a device or a broker: a test
client stands in for the gNMI client (DeviceWorker's `connect`), so the
read-before, read-back, retry with backoff, final-code and credential paths
are checked one by one."""
from __future__ import annotations

import grpc
import pytest

from conftest import EXAMPLE
from fabtel.config import SecretError, load_config
from fabtel.connectors.remediation.executor import DeviceWorker
from fabtel.records import RemediationCommand

PATH = "/interface[name=ethernet-1/1]/admin-state"


class RpcError(grpc.RpcError):
    def __init__(self, code, details="x"):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


class Device:
    """What a test device does with Get and Set, step by step."""

    def __init__(self, value, set_errors=(), get_errors=(), ignores_set=False):
        self.value, self.set_errors, self.get_errors = value, list(set_errors), list(get_errors)
        self.ignores_set, self.sets, self.connects = ignores_set, 0, 0

    def connect(self, device, timeout):
        self.connects += 1
        return self

    def get(self, path):
        if self.get_errors:
            raise self.get_errors.pop(0)
        return self.value

    def set_update(self, path, value):
        if self.set_errors:
            raise self.set_errors.pop(0)
        self.sets += 1
        if not self.ignores_set:
            import json
            self.value = json.loads(value)

    def close(self):
        pass


def command(value='"disable"'):
    return RemediationCommand("d1:ethernet-1/1", "d1", "leaf1", "ethernet-1/1", "disable", "srlinux", PATH, value, 1, 2)


def worker(dev: Device, retries=2) -> DeviceWorker:
    leaf1 = load_config(EXAMPLE).fabric.device("leaf1")
    return DeviceWorker(leaf1, retries, done=None, backoff_s=0.0, connect=dev.connect)


def test_applied_and_confirmed_by_reading_back():
    dev = Device("enable")
    assert worker(dev).apply(command()) == ("applied", f'{PATH} = "disable", confirmed by reading it back', 1)
    assert dev.sets == 1


def test_already_in_state_is_not_set_again():
    dev = Device("disable")
    outcome, _, attempts = worker(dev).apply(command())
    assert (outcome, attempts, dev.sets) == ("already_in_state", 1, 0)


def test_a_read_back_that_disagrees_fails():
    outcome, detail, _ = worker(Device("enable", ignores_set=True)).apply(command())
    assert outcome == "failed" and detail == 'read back "enable" after setting "disable"'


def test_unreachable_is_retried_with_a_new_channel_then_succeeds():
    dev = Device("enable", set_errors=[RpcError(grpc.StatusCode.UNAVAILABLE)])
    outcome, _, attempts = worker(dev).apply(command())
    assert (outcome, attempts, dev.connects) == ("applied", 2, 2)


def test_retries_are_bounded():
    dev = Device("enable", get_errors=[RpcError(grpc.StatusCode.UNAVAILABLE)] * 5)
    outcome, detail, attempts = worker(dev, retries=2).apply(command())
    assert (outcome, attempts) == ("failed", 3) and "cannot reach 127.0.0.1:57411" in detail


@pytest.mark.parametrize("code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED,
                                  grpc.StatusCode.UNAUTHENTICATED])
def test_a_refusal_is_final(code):
    dev = Device("enable", set_errors=[RpcError(code, "no")])
    outcome, detail, attempts = worker(dev).apply(command())
    assert (outcome, attempts, dev.connects) == ("failed", 1, 1) and detail.startswith("device refused:")


def test_missing_credentials_fail_at_once():
    class NoSecret(Device):
        def connect(self, device, timeout):
            raise SecretError("FABTEL_GNMI_PASSWORD is not set")
    outcome, detail, attempts = worker(NoSecret("enable")).apply(command())
    assert (outcome, attempts) == ("failed", 1) and detail == "credentials: FABTEL_GNMI_PASSWORD is not set"


class CountingDevice(Device):
    def __init__(self, value, **kw):
        super().__init__(value, **kw)
        self.gets = 0

    def get(self, path):
        self.gets += 1
        return super().get(path)


def test_the_read_before_is_skipped_only_when_the_last_read_found_another_value():
    dev = CountingDevice("enable")
    w = worker(dev)
    assert w.apply(command('"disable"'))[0] == "applied" and (dev.gets, dev.sets) == (2, 1)
    assert w.apply(command('"enable"'))[0] == "applied" and (dev.gets, dev.sets) == (3, 2)   # no read before
    # the last read found the value wanted: read first, and say so without a Set
    assert w.apply(command('"enable"'))[0] == "already_in_state" and (dev.gets, dev.sets) == (4, 2)


def test_a_set_of_a_value_already_there_is_confirmed_not_skipped():
    """The last read found "enable", the device was disabled meanwhile: the
    Set goes out anyway (harmless) and the read-back confirms it."""
    dev = CountingDevice("disable")
    w = worker(dev)
    w.known[PATH] = "enable"
    assert w.apply(command('"disable"'))[0] == "applied" and (dev.gets, dev.sets) == (1, 1)


def test_what_was_read_is_forgotten_with_the_channel():
    """The Set on a channel that failed is retried on a new one, after a read."""
    dev = CountingDevice("disable", set_errors=[RpcError(grpc.StatusCode.UNAVAILABLE)])
    w = worker(dev)
    w.known[PATH] = "enable"
    assert w.apply(command('"disable"'))[:2] == ("already_in_state", f'{PATH} was already "disable"')
    assert (dev.gets, dev.sets, dev.connects) == (1, 0, 2)
