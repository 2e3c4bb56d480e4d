"""`fabtel bench influx`: points per second from Kafka into the local
InfluxDB through the sink (decode, line protocol, HTTP write, commit):
interface counters records produced beforehand, then drained by one sink;
timed from its first consumed records (the consumer group join before them
is not ingest time) to the last point InfluxDB accepted."""
from __future__ import annotations

import dataclasses
import threading
import time

from fabtel.bench.common import bench_config, machine, progress
from fabtel.kafka import RecordProducer
from fabtel.records import InterfaceCounters


def run(config_path: str, seconds: float, records: int = 500_000) -> dict:
    from fabtel.connectors.influx.query import influxql
    from fabtel.connectors.influx.sink import InfluxSink
    cfg = bench_config(config_path, "influx")
    cfg = dataclasses.replace(cfg, influxdb=dataclasses.replace(cfg.influxdb, database="fabtel_bench", batch_size=10_000))
    influxql(cfg.influxdb, 'DROP DATABASE "fabtel_bench"')     # every run starts from an empty database
    p = RecordProducer(cfg.kafka, **{"linger.ms": 20, "queue.buffering.max.messages": 500_000})
    progress(f"producing {records} interface counter records")
    t0 = time.time_ns()
    for i in range(records):
        ts = t0 + i
        p.send(InterfaceCounters(f"leaf{i % 64}", f"ethernet-1/{i % 48 + 1}", "gnmi", ts, ts,
                                                       i * 1000, i * 900, i, i, 0, 0, 0, 0, 0, 0, 0, 0, 10**10))
        if i % 10_000 == 0:
            p.poll(0)
    p.flush(60)
    sink = InfluxSink(cfg, group=f"bench-influx-{time.time_ns()}", topics=("interface_counters",))
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    progress("draining into InfluxDB")
    joined = time.perf_counter()
    thread.start()
    deadline = time.monotonic() + 600
    start = None
    while sink.metrics.get("points_written_total") < records and time.monotonic() < deadline:
        if start is None and sink.metrics.get("records_total") > 0:
            start = time.perf_counter()       # the group is joined and the first records are in
        time.sleep(0.005)
    elapsed = time.perf_counter() - (start or joined)
    progress(f"group join and first fetch {(start or joined) - joined:.2f} s (not counted)")
    stop.set()
    thread.join(30)
    written = int(sink.metrics.get("points_written_total"))
    return {"points_per_s": round(written / elapsed), "points": written, "batch_size": cfg.influxdb.batch_size,
            "influxdb": "1.6.7 (v1 /write)", "machine": machine()}
