"""The remediation worker's decisions without a device or a broker: a test
client stands in for the gNMI client (DeviceWorker's `connect`), so the
read-before, read-back, retry with backoff, final-code and credential paths
are checked one by one."""
from __future__ import annotations

import grpc
import pytest

from conftest import EXAMPLE, wait_until
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


# ---------------------------------------------------------------- reading ahead

class AnsweringDevice(CountingDevice):
    def agree_encoding(self):
        return 0


def reading_worker(dev: Device, idle_read_s=0.0, paths=(PATH,)):
    seen = []
    leaf1 = load_config(EXAMPLE).fabric.device("leaf1")
    w = DeviceWorker(leaf1, 2, done=lambda *a: seen.append(a[2]), backoff_s=0.0, connect=dev.connect, paths=paths,
                     idle_read_s=idle_read_s, reached=lambda name, ok: seen.append((name, ok)))
    return w, seen


def test_the_paths_are_read_at_start_so_the_first_set_needs_no_read_of_its_own():
    dev = AnsweringDevice("enable")
    w, seen = reading_worker(dev)
    w.start()
    assert wait_until(lambda: ("leaf1", True) in seen, 5)
    assert w.known == {PATH: "enable"} and dev.gets == 1
    w.jobs.put((command('"disable"'), None))
    assert wait_until(lambda: "applied" in seen, 5)
    assert (dev.gets, dev.sets) == (2, 1)              # the read ahead, the Set, the read-back
    w.jobs.put(None)
    w.join(5)


def test_an_idle_worker_reads_again_and_says_once_when_its_device_stops_and_starts_answering(caplog):
    caplog.set_level("INFO", "fabtel.remediation")
    dev = AnsweringDevice("enable")
    w, seen = reading_worker(dev, idle_read_s=0.05)
    w.start()
    assert wait_until(lambda: dev.gets >= 3, 5)
    dev.get_errors = [RpcError(grpc.StatusCode.UNAVAILABLE)] * 3
    assert wait_until(lambda: not dev.get_errors and seen[-1] == ("leaf1", True), 5)
    w.jobs.put(None)
    w.join(5)
    said = [r.getMessage() for r in caplog.records if "57411" in r.getMessage()]
    assert said == ["remediate leaf1: cannot read 127.0.0.1:57411 (UNAVAILABLE: x): its commands will retry",
                    "remediate leaf1: 127.0.0.1:57411 answers again"]
    assert ("leaf1", False) in seen and dev.connects >= 2   # a new channel after the failure


def test_a_waiting_command_stops_the_read_ahead():
    dev = AnsweringDevice("enable")
    w, _ = reading_worker(dev, paths=(PATH, PATH.replace("1/1]", "1/2]")))
    w.jobs.put((command(), None))
    w._read_paths()
    assert dev.gets == 0 and w.known == {}


def test_a_read_begun_before_an_assignment_is_not_evidence_after_it():
    class ForgetsMidRead(AnsweringDevice):
        def get(self, path):
            w.forget()                                    # the assignment lands while the Get is out
            return super().get(path)
    dev = ForgetsMidRead("enable")
    w, _ = reading_worker(dev)
    w._read_paths()
    assert dev.gets == 1 and w.known == {}


def test_a_path_the_device_refuses_to_read_is_said_once_and_the_others_are_read(caplog):
    class NoSuchPath(AnsweringDevice):
        def get(self, path):
            if "1/2]" in path:
                raise RpcError(grpc.StatusCode.NOT_FOUND, "no such interface")
            return super().get(path)
    dev = NoSuchPath("enable")
    other = PATH.replace("1/1]", "1/2]")
    w, seen = reading_worker(dev, paths=(other, PATH))
    w._read_paths()
    w._read_paths()
    assert w.known == {PATH: "enable"} and seen == [("leaf1", True), ("leaf1", True)]
    assert [r.getMessage() for r in caplog.records] == [
        f"remediate leaf1: reading {other} ahead, the device refused (NOT_FOUND: no such interface): "
        "a command there would fail"]


def test_a_device_that_does_not_answer_is_read_again_sooner_than_an_idle_one():
    w, _ = reading_worker(AnsweringDevice("enable"), idle_read_s=30.0)
    assert w._idle_wait() == 30.0
    w.reachable = False
    assert [w._idle_wait() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    w.reachable = True
    assert w._idle_wait() == 30.0
    w.reachable = False
    assert w._idle_wait() == 1.0                       # a new outage starts from 1 s again
    assert reading_worker(AnsweringDevice("enable"), idle_read_s=0.0)[0]._idle_wait() is None
    assert reading_worker(AnsweringDevice("enable"), idle_read_s=30.0, paths=())[0]._idle_wait() is None


def test_missing_credentials_are_said_as_such_when_reading_ahead(caplog):
    class NoSecret(AnsweringDevice):
        def connect(self, device, timeout):
            raise SecretError("FABTEL_GNMI_PASSWORD is not set")
    w, seen = reading_worker(NoSecret("enable"))
    w._read_paths()
    assert seen == [("leaf1", False)] and [r.getMessage() for r in caplog.records] == [
        "remediate leaf1: cannot read 127.0.0.1:57411 (credentials: FABTEL_GNMI_PASSWORD is not set): "
        "its commands will retry"]
