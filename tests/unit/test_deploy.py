"""The deployment files agree with each other and with the code: the chart's
services and ports, the docs' port table, docker-compose, the Prometheus
scrape configuration, the alert rules, the console scripts, the metric names
the dashboards query; and every region's rendered chart keeps the security
and operability promises (helm from `make helm`)."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from claimscrub.runtime.metrics import ServiceMetrics
from claimscrub.runtime.testing import REPO_ROOT

CHART = REPO_ROOT / "helm/claimscrub"
HELM = REPO_ROOT / ".cache/go/bin/helm"
KUBE_VERSION = "1.33.0"
OPERATOR_APIS = [
    "keda.sh/v1alpha1/ScaledObject",
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
]
REGIONS = [
    "default",
    *sorted(p.name[len("values-") : -len(".yaml")] for p in CHART.glob("values-*.yaml")),
]


@cache
def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def chart_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = values()["services"]
    return services


def test_the_chart_ports_are_the_documented_ones() -> None:
    table = (REPO_ROOT / "docs/configuration.md").read_text().split("## Ports", 1)[1]
    documented = {
        m[1]: (int(m[2]), int(m[3]))
        for m in re.finditer(r"^\| (\w+) \| (\d+) \| (\d+) \|$", table, re.MULTILINE)
    }
    chart = {n: (s["grpcPort"], s["metricsPort"]) for n, s in chart_services().items()}
    assert chart == documented


def test_every_service_command_is_in_the_chart() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    commands = {name for name in project["scripts"] if name.startswith("claimscrub-")}
    assert commands, "no service entry points in pyproject.toml"
    # A service added to pyproject needs its entry in the chart (and compose).
    assert commands <= {f"claimscrub-{name}" for name in chart_services()}


def test_the_integration_pipeline_runs_chart_services() -> None:
    from claimscrub.runtime.pipeline import PIPELINE

    assert {name for name, _ in PIPELINE} <= set(chart_services())


def test_compose_runs_every_chart_service_like_the_chart() -> None:
    compose = yaml.safe_load((REPO_ROOT / "deploy/docker-compose.yml").read_text())
    services = compose["services"]
    checks = {s["check"] for s in chart_services().values() if s.get("check")}
    for name, svc in chart_services().items():
        c = services[name]
        grpc, metrics = svc["grpcPort"], svc["metricsPort"]
        assert c["command"] == [f"claimscrub-{name}"], name
        env = c["environment"]
        assert (env["CLAIMSCRUB_GRPC_PORT"], env["CLAIMSCRUB_METRICS_PORT"]) == (
            str(grpc),
            str(metrics),
        )
        assert set(env["CLAIMSCRUB_REQUIRED_CHECKS"].split(",")) == checks
        assert sorted(c["ports"]) == sorted([f"{grpc}:{grpc}", f"{metrics}:{metrics}"])
        assert c["healthcheck"]["test"][-1] == f"127.0.0.1:{grpc}"
        assert c["user"] == "10001:10001"
        assert c["read_only"] is True
        assert (svc.get("hmacKey") or False) <= ("CLAIMSCRUB_HMAC_KEY" in env)
    assert {"kafka", "prometheus", "grafana"} <= set(services)
    # The broker image is the Kafka version `make up` runs.
    pom = (REPO_ROOT / "deploy/kafka/pom.xml").read_text()
    version = re.search(r"<kafka.version>(.+)</kafka.version>", pom)
    assert version and services["kafka"]["image"] == f"apache/kafka:{version[1]}"


def test_compose_prometheus_scrapes_every_service_under_its_name() -> None:
    config = yaml.safe_load((REPO_ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {
        j["job_name"]: [t for sc in j["static_configs"] for t in sc["targets"]]
        for j in config["scrape_configs"]
    }
    assert jobs == {n: [f"{n}:{s['metricsPort']}"] for n, s in chart_services().items()}
    assert config["rule_files"] == ["alerts.yml"]


def test_the_alerts_job_selectors_name_exactly_the_chart_services() -> None:
    text = (REPO_ROOT / "deploy/prometheus/alerts.yml").read_text()
    selectors = set(re.findall(r'job=~"([^"]+)"', text))
    assert selectors == {"|".join(chart_services())}


def _exported_names() -> set[str]:
    registry = CollectorRegistry()
    ServiceMetrics(registry)
    names = set()
    for family in registry.collect():
        for sample in family.samples:
            names.add(sample.name)
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + s for s in ("_bucket", "_count", "_sum"))
    # prometheus-client's default process collector (Linux) and Prometheus itself.
    names.update(
        {
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
            "process_open_fds",
            "process_max_fds",
            "up",
        }
    )
    return names


def _queried_names() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    texts = {p.name: p.read_text() for p in (REPO_ROOT / "deploy/grafana/dashboards").glob("*")}
    texts["alerts.yml"] = (REPO_ROOT / "deploy/prometheus/alerts.yml").read_text()
    for where, text in texts.items():
        for name in re.findall(r"\b((?:claimscrub|grpc_server|process)_[a-z_]+|up)\s*[{\[)]", text):
            used.setdefault(name, set()).add(where)
    return used


def test_dashboards_and_alerts_query_only_exported_metrics() -> None:
    used = _queried_names()
    assert "claimscrub_consumer_lag" in used and "grpc_server_handled_total" in used
    missing = {name: where for name, where in used.items() if name not in _exported_names()}
    assert not missing


def test_the_chart_carries_the_dashboards_and_alerts_as_generated() -> None:
    for path in (REPO_ROOT / "deploy/grafana/dashboards").glob("*.json"):
        assert (CHART / "files/dashboards" / path.name).read_text() == path.read_text()
        assert json.loads(path.read_text())["uid"].startswith("claimscrub-")
    alerts = (REPO_ROOT / "deploy/prometheus/alerts.yml").read_text()
    assert (CHART / "files/alerts.yml").read_text() == alerts


def test_the_image_runs_as_a_non_root_user_on_a_slim_base() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.MULTILINE)
    final_stage = text.rsplit("\nFROM ", 1)[1]
    users = re.findall(r"^USER (\S+)", final_stage, re.MULTILINE)
    assert users == ["10001:10001"]


# --- the rendered chart, per region ---


@cache
def render(region: str, operators: bool) -> tuple[dict[str, Any], ...]:
    if not HELM.is_file():
        pytest.fail("helm is not built: run `make helm` (make test does)")
    cmd = [str(HELM), "template", "claimscrub", str(CHART), "--kube-version", KUBE_VERSION]
    if region != "default":
        cmd += ["-f", str(CHART / f"values-{region}.yaml")]
    if operators:
        for api in OPERATOR_APIS:
            cmd += ["--api-versions", api]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def _region_values(region: str) -> dict[str, Any]:
    if region == "default":
        return {}
    loaded: dict[str, Any] = yaml.safe_load((CHART / f"values-{region}.yaml").read_text())
    return loaded


def _by_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["labels"].get("app.kubernetes.io/component", d["metadata"]["name"]): d
        for d in docs
        if d["kind"] == kind
    }


@pytest.mark.parametrize("region", REGIONS)
def test_every_service_deploys_hardened_with_grpc_probes(region: str) -> None:
    docs = render(region, operators=False)
    deployments = _by_kind(docs, "Deployment")
    assert set(deployments) == set(chart_services())
    for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy", "HorizontalPodAutoscaler"):
        assert set(_by_kind(docs, kind)) == set(chart_services()), kind
    for name, d in deployments.items():
        svc = chart_services()[name]
        pod = d["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == [f"claimscrub-{name}"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        # With gRPC TLS on, the kubelet's probes use the plaintext health port.
        tls = values()["grpc"]["tls"]["enabled"]
        probe_port = values()["grpc"]["healthPort"] if tls else svc["grpcPort"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == probe_port, (name, probe)
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["requests"]["memory"]
        env = {e["name"]: e for e in container["env"]}
        assert env["CLAIMSCRUB_GRPC_PORT"]["value"] == str(svc["grpcPort"])
        assert env["CLAIMSCRUB_METRICS_PORT"]["value"] == str(svc["metricsPort"])
        secret = env.get("CLAIMSCRUB_HMAC_KEY_FILE")
        volumes = {v["name"]: v for v in pod["volumes"]}
        if svc.get("hmacKey"):
            expected = _region_values(region).get("hmac", {}).get("existingSecret")
            assert secret and secret["value"].startswith("/etc/claimscrub/hmac/")
            hmac = volumes["hmac"]["secret"]
            assert hmac["secretName"] == (expected or values()["hmac"]["existingSecret"])
        else:
            assert secret is None and "hmac" not in volumes, f"{name} does not need the HMAC key"
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/tmp", "/var/lib/claimscrub"} <= mounts


@pytest.mark.parametrize("region", REGIONS)
def test_every_service_runs_in_production_with_its_own_credentials_as_files(region: str) -> None:
    docs = render(region, operators=False)
    for name, d in _by_kind(docs, "Deployment").items():
        pod = d["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert env["CLAIMSCRUB_MODE"] == "production"
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        # Its own principal (the ACL table's name) and only its own password.
        assert env["KAFKA_SASL_USERNAME"] == name
        assert volumes["kafka-sasl"]["secret"]["items"] == [{"key": name, "path": "password"}]
        assert env["KAFKA_SASL_PASSWORD_FILE"] == "/etc/claimscrub/kafka-sasl/password"
        # gRPC: TLS from the service's own Secret, client certificates required.
        assert volumes["grpc-tls"]["secret"]["secretName"] == f"claimscrub-grpc-{name}"
        assert env["CLAIMSCRUB_GRPC_REQUIRE_CLIENT_CERT"] == "true"
        assert env["CLAIMSCRUB_GRPC_TLS_KEY"].startswith("/etc/claimscrub/grpc-tls/")
        # No secret as an environment value or reference: files only.
        assert not any("valueFrom" in e and "secretKeyRef" in e["valueFrom"]
                       for e in container["env"])  # fmt: skip
        assert not [k for k in env if k.endswith(("PASSWORD", "HMAC_KEY", "TLS_KEY"))
                    and not k.endswith("_FILE") and k != "CLAIMSCRUB_GRPC_TLS_KEY"]  # fmt: skip
        for volume in volumes.values():
            if "secret" in volume and volume["name"] != "kafka-ca":
                assert volume["secret"]["defaultMode"] == 0o440, (name, volume["name"])
        # The health port is the pod's, not the Service's.
        ports = {p["name"] for p in _by_kind(docs, "Service")[name]["spec"]["ports"]}
        assert "health" not in ports


def test_the_topics_job_applies_the_acl_table_as_the_admin_principal() -> None:
    (job,) = [d for d in render("default", operators=False) if d["kind"] == "Job"]
    pod = job["spec"]["template"]["spec"]
    steps = [*pod.get("initContainers", []), *pod["containers"]]
    assert [c["command"][2:] for c in steps] == [
        ["claimscrub.runtime.topics", "create"],
        ["claimscrub.runtime.acls", "apply"],
    ]
    for c in steps:
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["KAFKA_SASL_USERNAME"] == "admin" and env["CLAIMSCRUB_MODE"] == "production"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["kafka-sasl"]["secret"]["items"] == [{"key": "admin", "path": "password"}]


@pytest.mark.parametrize(
    ("settings", "accepted"),
    [
        (["kafka.security.protocol=PLAINTEXT"], False),
        (["grpc.tls.enabled=false"], False),
        (["grpc.tls.requireClientCert=false"], False),
        (["mode=local", "kafka.security.protocol=PLAINTEXT", "grpc.tls.enabled=false"], True),
        (["kafka.security.protocol=SSL"], True),
    ],
)
def test_production_values_refuse_plaintext(settings: list[str], accepted: bool) -> None:
    cmd = [str(HELM), "lint", str(CHART), "--kube-version", KUBE_VERSION]
    for setting in settings:
        cmd += ["--set", setting]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode == 0) == accepted, done.stdout + done.stderr


@pytest.mark.parametrize("region", REGIONS)
def test_the_config_map_names_the_region_brokers_and_checks(region: str) -> None:
    docs = render(region, operators=False)
    (config,) = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-config")
    ]
    expected = _region_values(region).get("kafka", {}).get("bootstrapServers")
    data = config["data"]
    assert data["KAFKA_BOOTSTRAP_SERVERS"] == (expected or values()["kafka"]["bootstrapServers"])
    checks = {s["check"] for s in chart_services().values() if s.get("check")}
    assert set(data["CLAIMSCRUB_REQUIRED_CHECKS"].split(",")) == checks
    for doc in docs:
        assert doc["metadata"]["labels"]["claimscrub.io/region"] == (
            region if region != "default" else "local"
        )


def test_every_pod_gets_the_failover_timings_and_a_stable_instance_name() -> None:
    docs = render("default", operators=False)
    (config,) = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-config")
    ]
    failover = values()["failover"]
    assert {k: v for k, v in config["data"].items() if k in FAILOVER_ENV.values()} == {
        env: str(failover[key]).lower() if isinstance(failover[key], bool) else str(failover[key])
        for key, env in FAILOVER_ENV.items()
    }
    # Static membership names each member after its pod, which a container
    # restart keeps.
    for deployment in _by_kind(docs, "Deployment").values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["CLAIMSCRUB_INSTANCE"] == "$(POD_NAME)"


FAILOVER_ENV = {
    "sessionTimeoutSeconds": "CLAIMSCRUB_SESSION_TIMEOUT_SECONDS",
    "heartbeatSeconds": "CLAIMSCRUB_HEARTBEAT_SECONDS",
    "maxPollIntervalSeconds": "CLAIMSCRUB_MAX_POLL_INTERVAL_SECONDS",
    "staticMembership": "CLAIMSCRUB_STATIC_MEMBERSHIP",
    "checkTimeoutSeconds": "CLAIMSCRUB_CHECK_TIMEOUT_SECONDS",
    "lateVerdictSeconds": "CLAIMSCRUB_LATE_VERDICT_SECONDS",
}


@pytest.mark.parametrize("region", REGIONS)
def test_with_the_operators_keda_scales_on_lag_and_prometheus_finds_everything(
    region: str,
) -> None:
    docs = render(region, operators=True)
    assert not _by_kind(docs, "HorizontalPodAutoscaler"), "KEDA makes its own HPA"
    scaled = _by_kind(docs, "ScaledObject")
    assert set(scaled) == set(chart_services())
    partitions = _region_values(region).get("kafka", {}).get("topicPartitions")
    partitions = partitions or values()["kafka"]["topicPartitions"]
    for name, so in scaled.items():
        triggers = so["spec"]["triggers"]
        assert {t["metadata"]["topic"] for t in triggers} == set(chart_services()[name]["consumes"])
        # The engine's consumer group: claimscrub-<service> (runtime.engine.consumer_group).
        assert {t["metadata"]["consumerGroup"] for t in triggers} == {f"claimscrub-{name}"}
        assert so["spec"]["maxReplicaCount"] <= partitions
    (monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/component"
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "30s", "honorLabels": True}
    ]
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    alerts = yaml.safe_load((REPO_ROOT / "deploy/prometheus/alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"]
    dashboards = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"]
    ]
    assert len(dashboards) == len(list((REPO_ROOT / "deploy/grafana/dashboards").glob("*.json")))


def test_without_the_operator_apis_nothing_needs_them() -> None:
    kinds = {d["kind"] for d in render("default", operators=False)}
    assert not kinds & {"ScaledObject", "ServiceMonitor", "PrometheusRule"}


def test_a_keyring_is_mounted_in_place_of_the_single_hmac_key() -> None:
    # runtime/keyring.py: CLAIMSCRUB_HMAC_KEYS_FILE and CLAIMSCRUB_HMAC_KEY_FILE
    # together are refused, so a pod gets exactly one of them.
    done = subprocess.run(
        [str(HELM), "template", "claimscrub", str(CHART), "--kube-version", KUBE_VERSION,
         "--set", "hmac.keyringKey=hmac-keys"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    deployments = _by_kind(tuple(docs), "Deployment")
    keyed = [n for n, s in chart_services().items() if s.get("hmacKey")]
    assert keyed
    for name in keyed:
        pod = deployments[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["CLAIMSCRUB_HMAC_KEYS_FILE"] == "/etc/claimscrub/hmac/hmac-keys"
        assert "CLAIMSCRUB_HMAC_KEY_FILE" not in env
        (hmac,) = [v for v in pod["volumes"] if v["name"] == "hmac"]
        assert hmac["secret"]["items"] == [{"key": "hmac-keys", "path": "hmac-keys"}]


def test_a_typo_in_values_is_refused() -> None:
    done = subprocess.run(
        [str(HELM), "lint", str(CHART), "--kube-version", KUBE_VERSION,
         "--set", "services.units.replica=3"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "replica" in done.stdout + done.stderr


def test_the_secure_compose_gives_each_service_its_principal_and_only_its_secrets(
    certs: Path,
) -> None:
    base = yaml.safe_load((REPO_ROOT / "deploy/docker-compose.yml").read_text())
    secure = yaml.safe_load((REPO_ROOT / "deploy/docker-compose.secure.yml").read_text())
    # Every secret file is one `make certs` writes.
    for secret in secure["secrets"].values():
        assert (certs / Path(secret["file"]).name).is_file(), secret["file"]
    for name, svc in chart_services().items():
        c = secure["services"][name]
        env = {**base["services"][name]["environment"], **c["environment"]}
        assert env["CLAIMSCRUB_MODE"] == "production"
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["KAFKA_SASL_USERNAME"] == name
        assert env["KAFKA_SASL_PASSWORD_FILE"] == f"/run/secrets/scram-{name}"
        assert env["CLAIMSCRUB_GRPC_REQUIRE_CLIENT_CERT"] == "true"
        own = {"ca", f"scram-{name}", f"{name}-cert", f"{name}-key"}
        assert set(c["secrets"]) == own | ({"hmac-key"} if svc.get("hmacKey") else set())
        assert c["healthcheck"]["test"][-2:] == ["127.0.0.1:8086", "--plaintext"]
    server = secure["configs"]["kafka-server"]["content"]
    script = (REPO_ROOT / "deploy/kafka/kafka.sh").read_text()
    for setting in ("super.users=", "authorizer.class.name=", "allow.everyone.if.no.acl.found="):
        line = next(x for x in server.splitlines() if x.startswith(setting))
        assert line in script, setting
