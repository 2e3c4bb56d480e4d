"""An alert from a provisioned rule reaches a webhook through the provisioned
notification policy. Grafana cannot run here (it is in no registry this
project reaches), so the parts are checked for real one by one: the rules are
evaluated against InfluxDB as Grafana evaluates them (fabtel.shell.alert_rules),
and the alerts they fire are routed by Prometheus Alertmanager, the routing
tree Grafana's notification policies are built on, configured from the
provisioned contact point and policy as they stand; the webhook is `fabtel
alerts receive`, the dev overlay's receiver."""
from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request

import pytest
import yaml

from conftest import ROOT, free_port, start_fabtel, wait_until

pytestmark = pytest.mark.peers   # built in the background by ./run tests; see conftest

NOTIFICATIONS = ROOT / "deploy" / "k8s" / "base" / "alerting" / "notifications.yaml"


def alertmanager_config(provisioned: dict, environ: dict) -> dict:
    """Grafana's provisioned contact points and policy tree as Alertmanager's
    configuration: the same receivers, matchers, grouping and timers."""
    def env(text: str) -> str:
        return re.sub(r"\$__env\{(\w+)\}", lambda m: environ[m.group(1)], text)

    def route(policy: dict) -> dict:
        out = {k: policy[k] for k in ("receiver", "group_by", "group_wait", "group_interval", "repeat_interval",
                                      "continue") if k in policy}
        if policy.get("object_matchers"):
            out["matchers"] = [f'{label}{op}"{value}"' for label, op, value in policy["object_matchers"]]
        if policy.get("routes"):
            out["routes"] = [route(r) for r in policy["routes"]]
        return out
    receivers = []
    for cp in provisioned["contactPoints"]:
        hooks = []
        for r in cp["receivers"]:
            assert r["type"] == "webhook", r["type"]
            hooks.append({"url": env(r["settings"]["url"]), "send_resolved": not r.get("disableResolveMessage", False)})
        receivers.append({"name": cp["name"], "webhook_configs": hooks})
    [policy] = provisioned["policies"]
    return {"route": route(policy), "receivers": receivers}


def test_a_firing_rule_reaches_the_webhook_through_the_provisioned_policy(config, tmp_path):
    from fabtel.bench import peers
    from fabtel.connectors.influx.writer import Writer
    from fabtel.shell.alert_rules import evaluate, load_rules
    receiver_port, am_port = free_port(), free_port()
    log = tmp_path / "receiver.log"
    receiver = start_fabtel("alerts", "receive", "--listen", f"127.0.0.1:{receiver_port}", log=log.open("w"))
    am_config = tmp_path / "alertmanager.yml"
    provisioned = yaml.safe_load(NOTIFICATIONS.read_text())
    am_config.write_text(yaml.safe_dump(alertmanager_config(provisioned, {
        "FABTEL_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{receiver_port}/alerts"})))
    am = subprocess.Popen([str(peers.ensure("alertmanager")), f"--config.file={am_config}",
                           f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
                           "--cluster.listen-address="], stdout=subprocess.DEVNULL, stderr=(tmp_path / "am.log").open("w"))
    try:
        # The fabric now: leaf1 isolated, leaf2 healthy, a LAG unbalanced by an elephant.
        now = time.time_ns()
        writer = Writer(config.influxdb)
        writer.ensure_database()
        assert writer.write([f"uplink_health,device=leaf1 state_code=2i {now}", f"uplink_health,device=leaf2 state_code=0i {now}",
                             f'lag_imbalance,lag_id=lag1,busiest_member=leaf1:ethernet-1/1,cause=elephant busiest_share=0.81 {now}']) == []
        fired = {rule["title"]: evaluate(config.influxdb, group, rule, now // 1_000_000 + 1000)
                 for _, group, rule in load_rules()}
        [isolated] = fired["Leaf uplinks degraded or isolated"]
        assert isolated.labels == {"severity": "critical", "team": "network", "device": "leaf1",
                                   "alertname": "Leaf uplinks degraded or isolated", "grafana_folder": "fabtel"}
        assert isolated.annotations["summary"] == "leaf1 has lost uplinks (isolated)"
        [unbalanced] = fired["LAG imbalance"]
        assert unbalanced.labels["severity"] == "warning" and unbalanced.labels["lag_id"] == "lag1"
        assert not fired["Blackholing seen in discard samples"]

        assert wait_until(lambda: _answers(f"http://127.0.0.1:{am_port}/-/ready"), 30), (tmp_path / "am.log").read_text()
        body = json.dumps([{"labels": a.labels, "annotations": a.annotations} for a in (isolated, unbalanced)]).encode()
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{am_port}/api/v2/alerts", data=body,
                                                      headers={"Content-Type": "application/json"}), timeout=10).read()
        sent = time.monotonic()
        # critical: its route's 5 s group wait; the rest: the root's 30 s
        assert wait_until(lambda: "Leaf uplinks degraded or isolated" in log.read_text(), 20), log.read_text()
        critical_after = time.monotonic() - sent
        assert wait_until(lambda: "LAG imbalance" in log.read_text(), 60), log.read_text()
        lines = [x for x in log.read_text().splitlines() if "alert firing" in x]
        assert any("{device=leaf1, grafana_folder=fabtel, severity=critical, team=network}: leaf1 has lost uplinks "
                   "(isolated)" in x for x in lines), lines
        assert not any("leaf2" in x for x in lines), lines
        assert critical_after < 15, critical_after
        print(f"\ncritical alert at the webhook {critical_after:.1f} s after it fired, through the provisioned policy")
    finally:
        am.terminate()
        receiver.terminate()
        am.wait(10)
        receiver.wait(10)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False
