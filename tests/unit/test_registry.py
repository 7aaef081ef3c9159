"""The service registry (services/runtime/data/services.json) is the one list
of services: the files rendered from it are as rendered, the code that
derives from it agrees, and a service added to it reaches every rendered file
(docs/architecture.md "Adding a service")."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from claimscrub.runtime import registry
from claimscrub.runtime.registry import RegistryError, Service, parse, render, services
from claimscrub.runtime.testing import REPO_ROOT

REGISTRY_TEXT = (REPO_ROOT / "services/runtime/data/services.json").read_text()


def test_every_rendered_file_is_as_the_registry_renders_it() -> None:
    assert registry.stale(REPO_ROOT) == [], "run `make registry` and commit the result"


def test_the_pipeline_starts_the_registry_in_its_order_enrollment_before_necessity() -> None:
    from claimscrub.runtime.pipeline import PIPELINE

    assert [(s.name, s.module) for s in services()] == PIPELINE
    names = [name for name, _ in PIPELINE]
    # necessity looks provider roles up in enrollment (docs/necessity.md).
    assert names.index("enrollment") < names.index("necessity")


def test_stack_sh_starts_the_registry_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert registry.main(["stack"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows == [[s.name, s.module, str(s.grpc_port), str(s.metrics_port)] for s in services()]
    script = (REPO_ROOT / "deploy/local/stack.sh").read_text()
    assert "-m claimscrub.runtime.registry stack" in script
    # No port of the table is spelled in the script itself.
    for s in services():
        assert str(s.grpc_port) not in script and str(s.metrics_port) not in script, s.name


def test_every_entry_point_declares_the_registry_ports() -> None:
    for s in services():
        source = (REPO_ROOT / "services" / s.module.split(".")[1] / "main.py").read_text()
        ports = dict(re.findall(r"^(GRPC_PORT|METRICS_PORT) = (\d+)$", source, re.MULTILINE))
        assert ports == {"GRPC_PORT": str(s.grpc_port), "METRICS_PORT": str(s.metrics_port)}, s.name


def test_the_console_scripts_are_the_registry_services() -> None:
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    ours = {k: v for k, v in scripts.items() if k.startswith("claimscrub-")}
    assert ours == {s.command: f"{s.module}:main" for s in services()}


def test_the_aggregator_waits_for_every_check_service_at_its_registry_port() -> None:
    from claimscrub.aggregator.settings import CHECK_ADDRESS_VARIABLES
    from claimscrub.runtime.settings import Settings

    checks = {s.check: s for s in services() if s.check}
    assert set(checks) == {"UNITS", "NECESSITY", "ENROLLMENT"}
    settings = Settings.from_env("aggregator", grpc_port=1, metrics_port=2, env={})
    # The contract's check order (CheckName), which orders CHECK_INCOMPLETE edits.
    assert settings.required_checks == ("UNITS", "NECESSITY", "ENROLLMENT")
    assert {str(c): v for c, v in CHECK_ADDRESS_VARIABLES.items()} == {
        name: (f"CLAIMSCRUB_{s.name.upper()}_ADDR", f"127.0.0.1:{s.grpc_port}")
        for name, s in checks.items()
    }


# --- the registry's own rules ---


def _with(change: dict[str, object], index: int = 0) -> str:
    doc = json.loads(REGISTRY_TEXT)
    doc["services"][index].update(change)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grpcPort": 50052}, "port used twice: 50052"),
        ({"name": "necessity"}, "name used twice: necessity"),
        ({"reads": ["claims.submited"]}, "no such topic"),
        ({"consumes": ["claims.checks"]}, "consumes a topic it may not read"),
        ({"check": "CLAIM"}, "no such check CLAIM"),
        ({"check": "NECESSITY"}, "check used twice: NECESSITY"),
        ({"Port": 1}, "unknown fields Port"),
        ({"metricsPort": 80}, "metricsPort must be a port"),
    ],
)
def test_a_broken_registry_is_refused_with_its_reason(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        parse(_with(change))


def test_the_bundled_registry_is_valid_and_names_the_six_services() -> None:
    assert [s.name for s in parse(REGISTRY_TEXT)] == [
        "units", "enrollment", "necessity", "aggregator", "redaction", "intake",
    ]  # fmt: skip


# --- adding a service touches one list ---


def _added() -> tuple[Service, ...]:
    base = services()
    new = replace(
        base[-1],
        name="eligibility",
        module="claimscrub.eligibility.main",
        grpc_port=50057,
        metrics_port=9107,
        principal="eligibility",
        check=None,
        consumes=("claims.submitted",),
        reads=("claims.submitted",),
        writes=("claims.checks", "audit.access"),
        note="claimscrub-eligibility: a test service",
        chart={"replicas": 3},
    )
    return (*base, new)


def test_a_service_added_to_the_registry_reaches_every_rendered_file(tmp_path: Path) -> None:
    rendered = render(REPO_ROOT, _added())
    compose = yaml.safe_load(rendered["deploy/docker-compose.yml"])["services"]["eligibility"]
    assert compose["command"] == ["claimscrub-eligibility"]
    assert compose["ports"] == ["50057:50057", "9107:9107"]
    secure = yaml.safe_load(rendered["deploy/docker-compose.secure.yml"])
    assert secure["services"]["eligibility"]["environment"]["KAFKA_SASL_USERNAME"] == "eligibility"
    assert "scram-eligibility" in secure["services"]["kafka"]["secrets"]
    assert secure["secrets"]["eligibility-key"] == {"file": "../.run/certs/eligibility-key.pem"}
    chart = yaml.safe_load(rendered["helm/claimscrub/values.yaml"])["services"]["eligibility"]
    assert chart == {
        "enabled": True,
        "grpcPort": 50057,
        "metricsPort": 9107,
        "consumes": ["claims.submitted"],
        "hmacKey": True,
        "replicas": 3,
    }
    scrape = yaml.safe_load(rendered["deploy/prometheus/prometheus.yml"])["scrape_configs"]
    assert scrape[-1] == {
        "job_name": "eligibility",
        "static_configs": [{"targets": ["eligibility:9107"]}],
    }
    for alerts in registry.JOB_SELECTORS:
        assert (
            'job=~"units|enrollment|necessity|aggregator|redaction|intake|eligibility"'
            in (rendered[alerts])
        )
    assert "| eligibility | 50057 | 9107 |" in rendered["docs/configuration.md"].splitlines()
    acl = json.loads(rendered[registry.ACL_TABLE])["principals"]
    assert acl["eligibility"] == {
        "_note": "claimscrub-eligibility: a test service",
        "read": ["claims.submitted"],
        "write": ["claims.checks", "audit.access"],
        "groups": ["claimscrub-eligibility"],
        "groupPrefix": "claimscrub-eligibility-",
        "engine": True,
    }
    # The other principals' rows stay as they are.
    table = json.loads((REPO_ROOT / registry.ACL_TABLE).read_text())["principals"]
    assert {k: v for k, v in acl.items() if k != "eligibility"} == table


def test_a_block_without_its_end_line_is_refused() -> None:
    text = "a: 1\n  # BEGIN registry:scrape\nb: 2\n"
    with pytest.raises(RegistryError, match="no END registry:scrape"):
        registry.render_blocks(text, {"scrape": registry.BLOCKS[
            "deploy/prometheus/prometheus.yml"]["scrape"]}, services())  # fmt: skip


def test_a_rendered_block_keeps_the_lines_around_it() -> None:
    text = "before\n  # BEGIN registry:ports\n  stale\n  # END registry:ports\nafter\n"
    out = registry.render_blocks(text, {"ports": lambda reg: ["x", "", "y"]}, services())
    assert out == "before\n  # BEGIN registry:ports\n  x\n\n  y\n  # END registry:ports\nafter\n"
