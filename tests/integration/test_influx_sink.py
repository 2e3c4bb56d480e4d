"""The InfluxDB sink against the real InfluxDB 1.6.7 and broker: count for
count, an outage in the middle loses and doubles nothing, a rejected point is
dead-lettered with the server's message."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
import urllib.parse
import urllib.request

import pytest


from conftest import wait_until as wait
from influx_proxy import WriteCounter

from fabtel.connectors.influx.lineproto import to_lines
from fabtel.connectors.influx.sink import InfluxSink
from fabtel.connectors.influx.writer import Writer
from fabtel.kafka import RecordProducer, tail
from fabtel.records import InterfaceCounters, InterfaceState
from fabtel.topics import TOPIC_OF
from samples import every_record


def query(cfg, q):
    url = f"{cfg.influxdb.url}/query?" + urllib.parse.urlencode({"db": cfg.influxdb.database, "q": q, "epoch": "ns"})
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def count(cfg, measurement, field):
    res = query(cfg, f'SELECT count("{field}") FROM "{measurement}"')["results"][0]
    return res["series"][0]["values"][0][1] if "series" in res else 0


def run_sink(cfg):
    sink = InfluxSink(cfg, group=f"t-sink-{time.time_ns()}")
    stop = threading.Event()
    t = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    t.start()
    return sink, stop, t




def test_every_record_type_becomes_valid_line_protocol():
    for rec in every_record():
        lines = to_lines(rec)
        if type(rec).__name__ in ("SflowSample", "BmpMessage", "RoutingEvent", "CollectorTarget", "DomainTick",
                                  "SegmentPresence", "InterfaceIndexes", "GroupClear"):
            # samples as their normalized counters, BGP messages as convergence results; the inventory, the
            # devices' ifIndex maps (they name the samples), the worker's own timers and a person clearing a held
            # oper-group are not telemetry
            assert lines == []
            continue
        assert lines, type(rec).__name__
        for text in lines:
            measurement, rest = text.split(",", 1) if "," in text.split(" ")[0] else text.split(" ", 1)
            assert text.rsplit(" ", 1)[1].isdigit()


def test_points_match_records_count_for_count(config):
    producer = RecordProducer(config.kafka)
    n = 500
    t0 = time.time_ns()
    for i in range(n):
        producer.send(InterfaceCounters(f"leaf{i % 3}", f"ethernet-1/{i % 10}", "gnmi",
                                        t0 + i, t0 + i, i, 2 * i, speed_bps=10**10))
    for rec in every_record():
        if type(rec).__name__ not in ("InterfaceCounters", "SflowSample") and type(rec).__name__ in TOPIC_OF:
            producer.send(rec)                        # every record of a topic (the worker's own timers have none)
    assert producer.flush() == 0
    sink, stop, t = run_sink(config)
    assert wait(lambda: count(config, "interface_counters", "in_octets") == n)
    assert wait(lambda: count(config, "oper_group_decision", "decision_id") == 1)
    for m, f in (("interface_state", "oper_up"), ("lag_member", "actor_oper_port_state"), ("bgp_session", "established"),
                 ("lag_balance", "imbalance"), ("lag_member_load", "rate_bps"), ("uplink_health", "state_code"),
                 ("remediation_command", "command_id"), ("remediation_result", "attempts"), ("dead_letter", "bytes")):
        assert wait(lambda: count(config, m, f) >= 1), m
    stop.set()
    t.join(20)
    assert sink.metrics.get("rejected_points_total") == 0
    assert count(config, "interface_counters", "in_octets") == n


def _outage_run(config, stack, writer=None):
    """1000 counters records through the sink into InfluxDB behind a
    WriteCounter, InfluxDB stopped after the first 300 and started again:
    (points InfluxDB holds, how often the server accepted each, the sink)."""
    with WriteCounter(config.influxdb.url) as counter:
        cfg = dataclasses.replace(config, influxdb=dataclasses.replace(config.influxdb, url=counter.url))
        producer = RecordProducer(cfg.kafka)
        sink = InfluxSink(cfg, group=f"t-sink-{time.time_ns()}",
                          writer=writer(cfg.influxdb) if writer else None)
        stop = threading.Event()
        t = threading.Thread(target=sink.run, args=(stop,), daemon=True)
        t.start()
        t0 = time.time_ns()
        sent = 0

        def send(k):
            nonlocal sent
            for i in range(k):
                producer.send(InterfaceCounters("leaf1", f"ethernet-1/{sent % 48}", "gnmi",
                                                t0 + sent, t0 + sent, sent, sent))
                sent += 1
            producer.flush()
        send(300)
        assert wait(lambda: count(cfg, "interface_counters", "in_octets") == 300)
        pid = stack.influx.pid()
        os.kill(pid, signal.SIGTERM)                      # InfluxDB goes away mid-run
        assert wait(lambda: stack.influx.pid() is None, 20)
        send(700)
        assert wait(lambda: sink.metrics.get("paused") == 1, 20)
        time.sleep(2)
        stack.up()                                        # and comes back
        assert wait(lambda: count(cfg, "interface_counters", "in_octets") == 1000, 60)
        assert wait(lambda: sink.metrics.get("paused") == 0)
        stop.set()
        t.join(20)
        rows = query(cfg, 'SELECT in_octets FROM interface_counters')["results"][0]["series"][0]["values"]
        return rows, counter.written("interface_counters"), sink


def test_influx_outage_loses_nothing_and_doubles_nothing(config, stack):
    rows, written, sink = _outage_run(config, stack)
    assert len(rows) == 1000 and sorted(r[1] for r in rows) == list(range(1000))     # nothing lost
    # Nothing written twice: counted on the wire, since InfluxDB keeps a point
    # written twice as one row (the next test shows the check catches it).
    assert len(written) == 1000 and set(written.values()) == {1}, written.most_common(3)
    assert sink.metrics.get("outages_total") == 1


class DoublingWriter(Writer):
    """A faulty sink's writer: every batch twice."""

    def write(self, lines):
        super().write(lines)
        return super().write(lines)


def test_the_doubles_check_catches_a_sink_that_writes_twice(config, stack):
    rows, written, _ = _outage_run(config, stack, DoublingWriter)
    assert len(rows) == 1000                                  # InfluxDB's rows cannot tell...
    # ...the wire count can: every point accepted twice or more (three times
    # when InfluxDB stopped between a batch's two writes and the retry wrote it twice again)
    assert len(written) == 1000 and min(written.values()) >= 2 and set(written.values()) <= {2, 3}, written


def test_a_rejected_point_goes_to_the_dead_letter_topic(config):
    # Make oper_up a string field in this database: the sink's integer is then a type conflict.
    url = f"{config.influxdb.url}/query?" + urllib.parse.urlencode({"q": f'CREATE DATABASE "{config.influxdb.database}"'})
    urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST")).read()
    t = time.time_ns()
    req = urllib.request.Request(f"{config.influxdb.url}/write?db={config.influxdb.database}",
                                 data=f'interface_state,device=x oper_up="yes" {t}'.encode(), method="POST")
    urllib.request.urlopen(req).read()
    producer = RecordProducer(config.kafka)
    producer.send(InterfaceState("leaf1", "ethernet-1/1", "gnmi", t + 1, t + 1, "enable", "up"))
    for i in range(5):
        producer.send(InterfaceCounters("leaf1", "ethernet-1/1", "gnmi", t + i, t + i, i, i))
    producer.flush()
    sink, stop, th = run_sink(config)
    assert wait(lambda: count(config, "interface_counters", "in_octets") == 5)
    assert wait(lambda: sink.metrics.get("rejected_points_total") == 1)
    stop.set()
    th.join(20)
    letters = [r for r, _ in tail(config.kafka, config.kafka.topic("dead_letters"), None, 3, until_end=True)]
    [letter] = [d for d in letters if d.component == "influx-sink"]
    assert "field type conflict" in letter.reason and letter.payload.startswith(b"interface_state,")


def test_fast_counters_line_equals_the_generic_one():
    from fabtel.connectors.influx.lineproto import _counters, counters_line, line
    rec = InterfaceCounters("leaf 1", "ethernet-1/1", "gnmi", 5, 6, 1, 2**64 - 1, 3, None, 0, speed_bps=10**10)
    [(m, tags, fields, ts)] = _counters(rec)
    assert counters_line(rec) == line(m, tags, fields, ts)
    assert "out_octets=-1i" in counters_line(rec) and "device=leaf\\ 1" in counters_line(rec)


def test_component_stats_become_one_point_per_series():
    from fabtel.metrics import Metrics
    from fabtel.stats import snapshot
    m = Metrics("gnmi")
    m.declare("updates_total", "u", ("device",), zero_for=[("leaf1",)])
    m.declare("devices", "d", kind="gauge")
    m.inc("updates_total", "leaf1", by=5)
    m.set("devices", value=3)
    lines = to_lines(snapshot(m, "pod-0/9"))
    stamp = lines[0].rsplit(" ", 1)[1]
    assert lines == [f"pipeline_stats,component=gnmi,device=leaf1,instance=pod-0/9,metric=updates_total value=5.0 {stamp}",
                     f"pipeline_stats,component=gnmi,instance=pod-0/9,metric=devices value=3.0 {stamp}"]


@pytest.mark.parametrize("values", [dict(in_octets=1, out_octets=2), dict(zip(InterfaceCounters.UNSIGNED, range(12))),
                                    dict(zip(InterfaceCounters.UNSIGNED, [2**63] * 12)), {}])
def test_counters_line_fast_and_field_by_field_paths_equal_the_generic_one(values):
    from fabtel.connectors.influx.lineproto import _counters, counters_line, line
    for speed in (10**10, None):
        rec = InterfaceCounters("leaf,2", "ethernet-1/1", "sflow", 7, 8, speed_bps=speed, **values)
        [(m, tags, fields, ts)] = _counters(rec)
        assert counters_line(rec) == line(m, tags, fields, ts)


def test_no_influxdb_at_start_is_one_waiting_line_then_exit_2(config, tmp_path):
    """As without a broker: one line saying what it waits for, retries, then one clear line and exit 2."""
    from conftest import fabtel, write_config
    from fabtel.localstack.ports import free_port
    import dataclasses
    nowhere = dataclasses.replace(config, influxdb=dataclasses.replace(config.influxdb, url=f"http://127.0.0.1:{free_port()}"))
    path = write_config(nowhere, tmp_path / "fabric.yaml", influxdb={"wait_ms": 3000})
    started = time.monotonic()
    out = fabtel("sink", "influx", "--config", str(path), "--group", f"t-sink-{time.time_ns()}", timeout=60)
    took = time.monotonic() - started
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert sum("waiting for InfluxDB at" in line for line in lines) == 1, out.stderr
    assert lines[-1].startswith("fabtel sink influx: InfluxDB at http://127.0.0.1:") and \
        "did not answer within 3 s" in lines[-1], out.stderr
    assert 3 <= took < 30
