"""The sink's v2 write path (/api/v2/write, what InfluxDB 2.x/3.x in
production serve) against a real server: InfluxDB 1.8.10, the oldest release
with the v2 write API, built from its Go module (Debian's 1.6.7 is v1 only).
Points arrive count for count, and a point the server refuses is
dead-lettered with its message; the rest of the batch is written."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

from conftest import free_port, wait_until
from fabtel.bench import peers
from fabtel.config import SecretRef
from fabtel.connectors.influx.sink import InfluxSink
from fabtel.kafka import RecordProducer
from fabtel.records import InterfaceCounters, InterfaceState


pytestmark = pytest.mark.peers   # built in the background by ./run tests; see conftest

@pytest.fixture(scope="module")
def influx18(tmp_path_factory):
    binary = str(peers.ensure("influxd"))
    d = tmp_path_factory.mktemp("influx18")
    port, rpc = free_port(), free_port()
    conf = d / "influxdb.conf"
    conf.write_text(f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n[meta]\n  dir = "{d}/meta"\n'
                    f'[data]\n  dir = "{d}/data"\n  wal-dir = "{d}/wal"\n  query-log-enabled = false\n'
                    f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n  flux-enabled = false\n'
                    f'[logging]\n  level = "warn"\n')
    proc = subprocess.Popen([binary, "-config", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            with urllib.request.urlopen(url + "/ping", timeout=1) as resp:
                return resp.status == 204          # built from v1.8.10 without ldflags: it reports "unknown"
        except OSError:
            return False
    assert wait_until(up, 30)
    yield url
    proc.terminate()
    proc.wait(10)


def _query(url, db, q):
    with urllib.request.urlopen(f"{url}/query?" + urllib.parse.urlencode({"db": db, "q": q}), timeout=10) as resp:
        return json.loads(resp.read())["results"][0]


def test_the_sink_writes_through_the_v2_api(influx18, config):
    db = f"v2_{time.time_ns() % 10**9}"
    _query(influx18, db, f'CREATE DATABASE "{db}"')        # InfluxDB 1.8 maps bucket "db/rp" to a database
    os.environ["FABTEL_TEST_INFLUX_TOKEN"] = "fabtel:unused"      # 1.8 without auth takes any "user:password"
    cfg = dataclasses.replace(config, influxdb=dataclasses.replace(
        config.influxdb, url=influx18, api="v2", org="fabtel", bucket=f"{db}/autogen",
        token=SecretRef(env="FABTEL_TEST_INFLUX_TOKEN")))
    producer = RecordProducer(cfg.kafka)
    t0 = time.time_ns()
    n = 300
    for i in range(n):
        producer.send(InterfaceCounters("leaf1", f"ethernet-1/{i % 7}", "gnmi", t0 + i, t0 + i,
                                                              i, 2 * i, speed_bps=10**10))
    # the same field as a string, then as an integer: the server refuses the second (a field type conflict)
    producer.send(InterfaceState("leaf1", "ethernet-1/1", "gnmi", t0, t0, "enable", "up"))
    assert producer.flush() == 0
    sink = InfluxSink(cfg, group=f"t-v2-{time.time_ns()}")
    assert "v2 /api/v2/write" in sink.writer.describe()
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    thread.start()
    try:
        def counted():
            res = _query(influx18, db, 'SELECT count("in_octets") FROM "interface_counters"')
            return res.get("series", [{}])[0].get("values", [[0, 0]])[0][1]
        assert wait_until(lambda: counted() == n, 30)
        assert wait_until(lambda: "series" in _query(influx18, db, 'SELECT "oper_state" FROM "interface_state"'), 10)
        bad = f'interface_state,device=leaf1,interface=ethernet-1/1,source=gnmi oper_state=5i {t0 + 1}'
        rejected = sink.writer.write([bad, f'interface_state,device=leaf2,interface=e1,source=gnmi oper_state="up" {t0}'])
        assert len(rejected) == 1 and rejected[0][0] == bad and "conflict" in rejected[0][1]
        assert "series" in _query(influx18, db, "SELECT * FROM interface_state WHERE device = 'leaf2'")
    finally:
        stop.set()
        thread.join(20)
