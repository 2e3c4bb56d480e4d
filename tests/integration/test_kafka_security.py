"""Every Kafka client of fabtel over SASL_SSL with SCRAM-SHA-512, against a
real Apache Kafka started with an extra SASL_SSL listener (a throw-away CA
and broker certificate made here, the SCRAM user created when the log
directory is formatted): the whole demo (collectors, Faust worker, sink,
executor) runs over it; a wrong password or an untrusted broker certificate
is one clear line and exit 2, never a retry loop or a leaked credential."""
from __future__ import annotations

import json
import os
import time

import pytest
import yaml

from certs import ca_and_server
from conftest import EXAMPLE, fabtel, free_port, quick_seed_scenario
from fabtel.localstack.ports import bindable

USER, PASSWORD = "fabtel-pipeline", "s3cret-Scram-pw"


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    from fabtel.localstack.kafka_broker import SaslListener
    from fabtel.localstack.stack import Stack
    d = tmp_path_factory.mktemp("secure")
    certs = ca_and_server(d, "broker")
    port = next(p for p in (free_port() for _ in range(50)) if bindable(p + 100) and bindable(p + 200))
    stack = Stack(d / "state", kafka_port=port, influx_port=free_port(),
                  sasl=SaslListener(port + 200, str(certs["cert"]), str(certs["key"]), {USER: PASSWORD}))
    stack.up()
    os.environ["FABTEL_TEST_KAFKA_PASSWORD"] = PASSWORD
    yield stack, certs, d
    stack.down()


def _config(secure, name: str, password_env="FABTEL_TEST_KAFKA_PASSWORD", ca="ca") -> str:
    stack, certs, d = secure
    data = yaml.safe_load(EXAMPLE.read_text())
    data["kafka"]["bootstrap_servers"] = stack.sasl_bootstrap
    data["kafka"]["broker_wait_ms"] = 5000
    data["kafka"]["security"] = {"protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "ca_file": str(certs[ca]),
                                 "username": USER, "password_env": password_env}
    data["influxdb"]["url"] = stack.influx_url
    path = d / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_the_whole_demo_runs_over_sasl_ssl(secure, tmp_path):
    """Collectors, Faust worker, sink and executor, each over SASL_SSL + SCRAM."""
    report = tmp_path / "r.json"
    out = fabtel("demo", "--config", _config(secure, "good"), "--no-baseline", "--report", str(report),
                 "--scenario", str(quick_seed_scenario(tmp_path)), timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(report.read_text())
    assert r["expectations_met"] and r["detect_to_apply_ms"] and r["influx_points_written"] > 100
    assert PASSWORD not in out.stdout + out.stderr


def test_a_wrong_password_is_one_clear_line_and_exit_2(secure):
    os.environ["FABTEL_TEST_KAFKA_WRONG"] = "not-the-password"
    path = _config(secure, "wrong", password_env="FABTEL_TEST_KAFKA_WRONG")
    for args in (("topics", "create"), ("sink", "influx"), ("remediate",)):
        t0 = time.monotonic()
        out = fabtel(*args, "--config", path, timeout=60)
        assert out.returncode == 2, (args, out.stderr[-2000:])
        assert time.monotonic() - t0 < 30                     # not an endless retry loop
        errors = [line for line in out.stderr.splitlines() if line.startswith("fabtel ")]
        assert len(errors) == 1 and "SCRAM-SHA-512" in errors[0] and "SASL_SSL listener" in errors[0], out.stderr
        assert "Traceback" not in out.stderr and "not-the-password" not in out.stderr


def test_an_untrusted_broker_certificate_is_refused(secure):
    out = fabtel("topics", "create", "--config", _config(secure, "untrusted", ca="other_ca"), timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "cannot trust broker" in out.stderr and "SASL_SSL with SCRAM-SHA-512 listener" in out.stderr, out.stderr


def test_config_check_never_prints_a_credential(secure):
    out = fabtel("config", "check", _config(secure, "check"))
    assert out.returncode == 0 and PASSWORD not in out.stdout + out.stderr
