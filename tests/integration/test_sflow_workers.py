"""`collect sflow --workers 2` against the real broker: two receiver
processes on one port (SO_REUSEPORT), each agent kept by one of them (no
sequence gap counted), every datagram counted once in the parent's /metrics
and every sample in Kafka; a worker SIGKILLed is started again, and its
counts stay in the sum."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

from conftest import free_port, scrape_metrics, start_fabtel, wait_until, write_config
from fabtel.connectors.sflow.codec import encode_datagram
from fabtel.bench.common import topic_count
from fabtel.kafka import read_topic
from sflow_cases import counters
from test_stopping import children

AGENTS = 32          # each from a socket of its own: the kernel spreads them over the workers


def metric(text: str, name: str) -> float:
    found = re.search(rf"^fabtel_sflow_{name} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else -1


def health(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.read().decode()
    except OSError as exc:
        return str(exc)


def in_kafka(config) -> int:
    return topic_count(config, config.kafka.topic("sflow_samples"))


def per_worker(config, pids) -> dict[str, float]:
    """Each worker's own datagrams_total, from the last stats it published to Kafka."""
    last = {}
    for read in read_topic(config.kafka, config.kafka.topic("pipeline_stats"), timeout_s=2, until_end=True):
        stats = read.record
        if stats is not None and stats.component == "sflow" and int(stats.instance.rsplit("/", 1)[1]) in pids:
            last[stats.instance] = sum(s.value for s in stats.samples if s.name == "datagrams_total")
    return last


def send_round(senders, port: int, first_seq: int, per_agent: int) -> int:
    for n in range(per_agent):
        for i, sock in enumerate(senders):
            sock.sendto(encode_datagram(f"203.0.113.{i + 1}", 0, first_seq + n, 1000 + n,
                                        [counters(n, 5, 100 + n, with_lag=False)]), ("127.0.0.1", port))
        time.sleep(0.002)
    return len(senders) * per_agent


def test_two_workers_share_a_port_and_survive_a_kill(config, tmp_path, monkeypatch):
    monkeypatch.setenv("FABTEL_STATS_INTERVAL_S", "1")
    port, mport = free_port(), free_port()
    path = write_config(config, tmp_path / "fabric.yaml")
    log = (tmp_path / "sflow.log").open("w")
    proc = start_fabtel("collect", "sflow", "--config", str(path), "--listen", f"127.0.0.1:{port}", "--workers", "2",
                        "--metrics-listen", f"127.0.0.1:{mport}", log=log)
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(AGENTS)]
    try:
        assert wait_until(lambda: "2 of 2 sflow workers alive" in health(mport), 60), health(mport)
        workers = children(proc.pid)
        assert len(workers) == 2
        time.sleep(3)                                    # each worker connected to the broker, bound to the port
        before = in_kafka(config)
        sent = send_round(senders, port, 1, 20)
        assert wait_until(lambda: metric(scrape_metrics(mport), "datagrams_total") == sent, 30), scrape_metrics(mport)
        assert wait_until(lambda: in_kafka(config) - before == sent, 30), in_kafka(config) - before
        text = scrape_metrics(mport)
        assert metric(text, "kernel_drops_total") == 0
        assert 'fabtel_sflow_lost_datagrams_total{agent="203.0.113.' not in text      # each agent stayed with one worker
        # both took a share, each its own agents: what each published to the pipeline's stats
        assert wait_until(lambda: sum(per_worker(config, workers).values()) == sent, 30), per_worker(config, workers)
        shares = per_worker(config, workers)
        assert len(shares) == 2 and all(v > 0 for v in shares.values()), shares

        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        assert wait_until(lambda: len(children(proc.pid) - {victim}) == 2
                          and "2 of 2 sflow workers alive" in health(mport), 60), health(mport)
        time.sleep(3)
        sent += send_round(senders, port, 21, 20)
        assert wait_until(lambda: metric(scrape_metrics(mport), "datagrams_total") == sent, 30), \
            (sent, scrape_metrics(mport))
        assert wait_until(lambda: in_kafka(config) - before == sent, 30), in_kafka(config) - before
    finally:
        for s in senders:
            s.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    assert proc.returncode == 0, (tmp_path / "sflow.log").read_text()[-2000:]
    text = (tmp_path / "sflow.log").read_text()
    assert "2 workers on one port" in text and "starting it again" in text and "Traceback" not in text
    assert not [p for p in workers if os.path.exists(f"/proc/{p}")]
