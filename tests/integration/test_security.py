"""The secured deployment, for real: a broker with TLS listeners, SCRAM users
and ACLs (deploy/kafka/kafka.sh, KAFKA_SECURITY=secure), every service in
CLAIMSCRUB_MODE=production with its own Kafka principal and gRPC mTLS.

- A Kafka client with a wrong password, an unknown user or a certificate from
  another CA cannot connect.
- The ACLs hold for the client the services use (librdkafka, through
  confluent-kafka and the stream engine):
  units cannot consume claims.deidentified, analytics cannot consume
  claims.submitted, units cannot publish verdicts; each can use its own topics.
- The pipeline still produces exactly one result per claim, every service
  authenticated (SASL_SSL/SCRAM; redaction and enrollment by client
  certificate), necessity asking enrollment over mTLS; analytics reads
  claims.deidentified over mTLS.
- gRPC refuses a client without a certificate or with one from another CA.
- No secret (SCRAM passwords, the HMAC key, private keys) is in any log line.
- Authorisation per method (issue 20): each principal against each method of
  the policy file, allowed or PERMISSION_DENIED; every PHI call leaves one
  event on audit.access (none for health checks), which only the auditor may
  read; the PHI topics carry their retention after kafka.sh topics.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from claimscrub.cli.enrollment import publish_records
from claimscrub.enrollment.records import read_records
from claimscrub.runtime import grpc_client
from claimscrub.runtime.devcerts import generate
from claimscrub.runtime.grpc_tls import ClientTls
from claimscrub.runtime.kafka_config import KafkaSecurity, client_config, producer_config
from claimscrub.runtime.pipeline import PIPELINE
from claimscrub.runtime.secrets import Secret
from claimscrub.runtime.testing import REPO_ROOT, LocalKafka, ServiceProcess, consume_all, free_port
from claimscrub.runtime.topics import (
    CLAIMS_DEIDENTIFIED,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
)
from claimscrub.v1 import claim_pb2, units_service_pb2_grpc
from tests.integration.helpers import started

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("other-ca")
    generate(directory, names=["units", "analytics"], ca_name="some other CA")
    return directory


@pytest.fixture(scope="module")
def secure_services(
    secure_kafka: LocalKafka,
    secure_service_env: Callable[[str], dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
    examples_dir: Path,
) -> Iterator[dict[str, ServiceProcess]]:
    log_dir = tmp_path_factory.mktemp("secure-services")
    publish_records(
        read_records(examples_dir / "enrollment.json"),
        secure_kafka.bootstrap,
        security=secure_kafka.security("provider-loader"),
    )
    ports = {name: (free_port(), free_port()) for name, _ in PIPELINE}
    shared = {
        "CLAIMSCRUB_PAYERS_FILE": str(examples_dir / "payers.json"),
        "CLAIMSCRUB_ENROLLMENT_ADDR": f"127.0.0.1:{ports['enrollment'][0]}",
        "CLAIMSCRUB_ENROLLMENT_TIMEOUT_SECONDS": "1",
    }
    procs = {
        name: ServiceProcess(
            name,
            module,
            *ports[name],
            secure_kafka,
            log_dir,
            {**shared, **secure_service_env(name)},
        )
        for name, module in PIPELINE
    }
    with started(procs) as running:
        yield running


# --- Kafka authentication and ACLs (no services needed) ---


def _bad(kafka: LocalKafka, certs: Path, **change: str) -> KafkaSecurity:
    env = {**kafka.client_env("units"), **change}
    env.pop("KAFKA_SASL_PASSWORD_FILE", None)
    return KafkaSecurity.from_env({"KAFKA_SASL_PASSWORD": "not-the-password", **env})


def _connects(bootstrap: str, security: KafkaSecurity) -> bool:
    """Whether the client authenticates: it can read the cluster's metadata."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(client_config(bootstrap, security, client_id="claimscrub-probe"))
    try:
        admin.list_topics(timeout=8)
    except KafkaException:
        return False
    return True


def test_wrong_credentials_cannot_connect(
    secure_kafka: LocalKafka, certs: Path, other_ca: Path
) -> None:
    wrong_password = _bad(secure_kafka, certs)
    unknown_user = _bad(secure_kafka, certs, KAFKA_SASL_USERNAME="mallory")
    foreign_cert = KafkaSecurity.from_env(
        {
            **secure_kafka.client_env("units", "ssl"),
            "KAFKA_SSL_CERT_FILE": str(other_ca / "units.pem"),
            "KAFKA_SSL_KEY_FILE": str(other_ca / "units-key.pem"),
        }
    )
    no_cert = KafkaSecurity.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL",
                                      "KAFKA_SSL_CA_FILE": str(certs / "ca.pem")})  # fmt: skip

    assert {
        "wrong password": _connects(secure_kafka.bootstrap, wrong_password),
        "unknown user": _connects(secure_kafka.bootstrap, unknown_user),
        "certificate from another CA": _connects(secure_kafka.ssl_bootstrap, foreign_cert),
        "no certificate": _connects(secure_kafka.ssl_bootstrap, no_cert),
        "plaintext": _connects(secure_kafka.bootstrap, KafkaSecurity()),
        # The controls: the right password and the right certificate do connect.
        "units": _connects(secure_kafka.bootstrap, secure_kafka.security("units")),
        "units by certificate": _connects(
            secure_kafka.ssl_bootstrap, secure_kafka.security("units", "ssl")
        ),
    } == {
        "wrong password": False,
        "unknown user": False,
        "certificate from another CA": False,
        "no certificate": False,
        "plaintext": False,
        "units": True,
        "units by certificate": True,
    }


def _consume_one(bootstrap: str, security: KafkaSecurity, topic: str, group: str) -> str:
    """What consuming ``topic`` as a group member gives: a record, or the error's name."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        client_config(bootstrap, security, group_id=group, auto_offset_reset="earliest")
    )
    try:
        consumer.subscribe([topic])
        for _ in range(40):
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if (error := msg.error()) is not None:
                return str(error.name())
            return "record"
        return "nothing"
    finally:
        consumer.close()


def _publish(bootstrap: str, security: KafkaSecurity, topic: str) -> str:
    from confluent_kafka import KafkaException, Producer

    producer = Producer(producer_config(bootstrap, security, message_timeout_ms=20_000))
    outcome: list[str] = []

    def delivered(error: Any, _msg: Any) -> None:
        outcome.append("published" if error is None else str(error.name()))

    try:
        producer.produce(topic, b"acl-probe", key=b"acl-probe", on_delivery=delivered)
        producer.flush(30)
    except KafkaException as exc:
        return str(exc.args[0].name())
    return outcome[0] if outcome else "nothing"


def test_each_principal_reaches_only_its_own_topics(secure_kafka: LocalKafka) -> None:
    k = secure_kafka
    units, analytics = k.security("units"), k.security("analytics", "ssl")

    def main() -> dict[str, str]:
        # A record on each topic, so "nothing" could not pass for "refused".
        _publish(k.bootstrap, k.security("submitter"), CLAIMS_SUBMITTED.name)
        _publish(k.bootstrap, k.security("redaction"), CLAIMS_DEIDENTIFIED.name)
        return {
            "units <- claims.deidentified": _consume_one(
                k.bootstrap, units, CLAIMS_DEIDENTIFIED.name, "claimscrub-units"
            ),
            "analytics <- claims.submitted": _consume_one(
                k.ssl_bootstrap, analytics, CLAIMS_SUBMITTED.name, "analytics-probe"
            ),
            "units -> claims.scrubbed": _publish(k.bootstrap, units, CLAIMS_SCRUBBED.name),
            "submitter <- claims.submitted": _consume_one(
                k.bootstrap, k.security("submitter"), CLAIMS_SUBMITTED.name, "submitter-probe"
            ),
            # The controls: each may use its own.
            "units <- claims.submitted": _consume_one(
                k.bootstrap, units, CLAIMS_SUBMITTED.name, "claimscrub-units"
            ),
            "analytics <- claims.deidentified": _consume_one(
                k.ssl_bootstrap, analytics, CLAIMS_DEIDENTIFIED.name, "analytics-probe"
            ),
        }

    assert main() == {
        "units <- claims.deidentified": "TOPIC_AUTHORIZATION_FAILED",
        "analytics <- claims.submitted": "TOPIC_AUTHORIZATION_FAILED",
        "units -> claims.scrubbed": "TOPIC_AUTHORIZATION_FAILED",
        "submitter <- claims.submitted": "TOPIC_AUTHORIZATION_FAILED",
        "units <- claims.submitted": "record",
        "analytics <- claims.deidentified": "record",
    }


# --- the secured pipeline ---


def _claims(examples_dir: Path) -> list[dict[str, Any]]:
    """The examples, and EX-001 again without the rendering taxonomy: necessity
    must then ask enrollment (over mTLS) for the provider's discipline."""
    claims: list[dict[str, Any]] = json.loads((examples_dir / "claims.json").read_text())
    lookup = json.loads(json.dumps(claims[0]))
    assert lookup["claimId"] == "EX-001"
    lookup["claimId"] = "SEC-LOOKUP"
    # Another patient: the same services for EX-001's patient would be a DUPLICATE_CLAIM.
    lookup["patient"]["memberId"] = "9SEC0LOOKUP"
    del lookup["renderingProvider"]["taxonomy"]
    return [*claims, lookup]


def _claim_ids(examples_dir: Path) -> list[str]:
    return [c["claimId"] for c in _claims(examples_dir)]


@pytest.fixture(scope="module")
def submitted(
    secure_services: dict[str, ServiceProcess],
    secure_kafka: LocalKafka,
    examples_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> subprocess.CompletedProcess[str]:
    """`claimscrub submit --wait` as the billing platform would run it: the
    submitter principal, production mode."""
    env = {"PATH": "/usr/bin:/bin", "CLAIMSCRUB_MODE": "production"}
    env.update(secure_kafka.client_env("submitter"))
    claims = tmp_path_factory.mktemp("submit") / "claims.json"
    claims.write_text(json.dumps(_claims(examples_dir)))
    return subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", "submit",
         str(claims), "--wait", "--timeout", "150"],
        env=env, capture_output=True, text=True, timeout=200, cwd=REPO_ROOT,
    )  # fmt: skip


def _lookups(necessity: ServiceProcess) -> dict[str, float]:
    """necessity's GetEnrollment calls by outcome, from its /metrics."""
    url = f"http://127.0.0.1:{necessity.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("claimscrub_necessity_enrollment_lookups_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = float(line.rsplit(" ", 1)[1])
    return out


def test_the_pipeline_gives_one_result_per_claim_with_every_service_authenticated(
    submitted: subprocess.CompletedProcess[str],
    secure_services: dict[str, ServiceProcess],
    secure_kafka: LocalKafka,
    examples_dir: Path,
) -> None:
    ids = _claim_ids(examples_dir)
    assert submitted.returncode == 0, submitted.stderr
    results = {r["claimId"]: r for r in map(json.loads, submitted.stdout.splitlines())}
    assert list(results) == ids
    # The role enrollment gave is the one EX-001's taxonomy gives: the same verdict.
    assert results["SEC-LOOKUP"]["edits"] == results["EX-001"]["edits"]
    assert results["SEC-LOOKUP"]["status"] == results["EX-001"]["status"]
    # Read back as analytics: exactly one verdict per claim on claims.scrubbed.
    records = consume_all(
        secure_kafka.ssl_bootstrap,
        CLAIMS_SCRUBBED.name,
        until=len(ids),
        security=secure_kafka.security("analytics", "ssl"),
    )
    keys = [r.key.decode() for r in records if r.key and r.key.decode() in set(ids)]
    assert sorted(keys) == sorted(ids)
    # Necessity asked enrollment over mTLS and got answers, never a failure.
    assert "enrollment lookup failed" not in submitted.stdout
    lookups = _lookups(secure_services["necessity"])
    assert lookups.get("found", 0) > 0
    assert set(lookups) <= {"found", "not_found", "no_discipline"}, lookups
    deidentified = consume_all(
        secure_kafka.ssl_bootstrap,
        CLAIMS_DEIDENTIFIED.name,
        until=len(ids),
        security=secure_kafka.security("analytics", "ssl"),
    )
    assert len({r.key for r in deidentified}) >= len(ids)


def test_a_second_submit_wait_of_the_same_claims_shows_their_results(
    submitted: subprocess.CompletedProcess[str],
    secure_kafka: LocalKafka,
    examples_dir: Path,
    hmac_file: Path,
    tmp_path: Path,
) -> None:
    """The second run finds the results already on claims.scrubbed: its reader
    of that topic connects as the submitter too (SASL_SSL), not in plaintext.
    (It recognises the claim versions with the deployment's key.)"""
    assert submitted.returncode == 0, submitted.stderr
    env = {
        "PATH": "/usr/bin:/bin",
        "CLAIMSCRUB_MODE": "production",
        "CLAIMSCRUB_HMAC_KEY_FILE": str(hmac_file),
    }
    env.update(secure_kafka.client_env("submitter"))
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(_claims(examples_dir)))
    again = subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", "submit",
         str(claims), "--wait", "--timeout", "60"],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    ids = _claim_ids(examples_dir)
    assert f"{len(ids)} claims were already scrubbed with the same content" in again.stderr
    assert again.stdout == submitted.stdout


def test_kafka_sh_groups_works_on_the_secured_broker_as_admin(
    submitted: subprocess.CompletedProcess[str], secure_kafka: LocalKafka
) -> None:
    """kafka.sh groups connects as admin with its certificate (the SSL port)."""
    assert submitted.returncode == 0, submitted.stderr
    done = secure_kafka._script("groups", "claimscrub-aggregator")
    assert done.returncode == 0, done.stderr
    assert "claims.checks" in done.stdout and "LAG" in done.stdout


def _units_check(target: str, tls: ClientTls | bool) -> Any:
    claim = json_format.ParseDict(
        {
            "claimId": "MTLS-1",
            "payerId": "MEDICARE",
            "submissionDate": "2026-06-01",
            "serviceLines": [
                {"lineNumber": 1, "dateOfService": "2026-05-04", "procedureCode": "97530",
                 "modifiers": ["GP"], "units": 3, "minutes": 30},
            ],
        },
        claim_pb2.Claim(),
    )  # fmt: skip
    with grpc_client.channel(target, tls=tls) as channel:
        return units_service_pb2_grpc.UnitsServiceStub(channel).Check(claim, timeout=5)


def _client(ca: Path, cert_dir: Path | None, name: str = "submitter") -> ClientTls:
    if cert_dir is None:
        return ClientTls(ca.read_bytes(), None, None, None)
    return ClientTls(
        ca.read_bytes(),
        (cert_dir / f"{name}.pem").read_bytes(),
        Secret((cert_dir / f"{name}-key.pem").read_bytes()),
        None,
    )


def test_service_grpc_refuses_clients_without_a_certificate_from_its_ca(
    secure_services: dict[str, ServiceProcess], certs: Path, other_ca: Path
) -> None:
    target = f"127.0.0.1:{secure_services['units'].grpc_port}"
    ca = certs / "ca.pem"
    outcomes = {}
    clients: dict[str, ClientTls | bool] = {
        "plaintext": False,
        "no certificate": _client(ca, None),
        "certificate from another CA": _client(ca, other_ca, "units"),
    }
    for label, tls in clients.items():
        with pytest.raises(grpc.RpcError) as err:
            _units_check(target, tls)
        outcomes[label] = err.value.code()
    assert set(outcomes.values()) == {grpc.StatusCode.UNAVAILABLE}
    # The caller the policy names (the aggregator) with the deployment's CA gets the result.
    reply = _units_check(target, _client(ca, certs, "aggregator"))
    assert reply.claim_id == "MTLS-1" and [e.code for e in reply.edits] == ["UNITS_EXCEED_TIME"]


def _secret_values(certs: Path, hmac_file: Path) -> dict[str, str]:
    values = {p.name: p.read_text().strip() for p in certs.glob("*.password")}
    values["hmac key"] = hmac_file.read_text().strip()
    for key in certs.glob("*-key.pem"):
        body = [line for line in key.read_text().splitlines() if not line.startswith("-----")]
        # Any line of the key's base64 would do; three distinct ones are plenty.
        for i in (0, len(body) // 2, len(body) - 2):
            values[f"{key.name} line {i}"] = body[i]
    return values


def test_no_secret_appears_in_any_log_line(
    submitted: subprocess.CompletedProcess[str],
    secure_services: dict[str, ServiceProcess],
    secure_kafka: LocalKafka,
    certs: Path,
    hmac_file: Path,
) -> None:
    logs = {p.name: p.log_path.read_text(errors="replace") for p in secure_services.values()}
    for path in (secure_kafka.run_dir / "logs").glob("*"):
        logs[f"broker {path.name}"] = path.read_text(errors="replace")
    logs["claimscrub submit"] = submitted.stdout + submitted.stderr
    assert all(logs[p] for p in secure_services), "every service logged something"
    assert '"service_starting"' in logs["units"] and "SASL_SSL" in logs["units"]
    leaks = {
        (secret, where)
        for secret, value in _secret_values(certs, hmac_file).items()
        for where, text in logs.items()
        if value in text
    }
    assert not leaks


# --- authorisation, audit and retention (issue 20) ---

#: Which service serves each gRPC service of the policy.
SERVED_BY = {
    "claimscrub.v1.UnitsService": "units",
    "claimscrub.v1.NecessityService": "necessity",
    "claimscrub.v1.EnrollmentService": "enrollment",
    "claimscrub.v1.ScrubService": "aggregator",
    "claimscrub.v1.RedactionService": "redaction",
}
PROBE_CLAIM = {
    "payerId": "MEDICARE",
    "submissionDate": "2026-06-01",
    "serviceLines": [
        {"lineNumber": 1, "dateOfService": "2026-05-04", "procedureCode": "97530",
         "modifiers": ["GP"], "units": 2, "minutes": 30},
    ],
}  # fmt: skip


def _request(method: str, claim_id: str) -> Any:
    """A small valid request for ``method`` (its input type from the descriptor pool)."""
    from google.protobuf import descriptor_pool, message_factory

    from claimscrub.v1 import (  # noqa: F401  (registers the services in the pool)
        enrollment_service_pb2,
        necessity_service_pb2,
        redaction_service_pb2,
        scrub_service_pb2,
        units_service_pb2,
    )

    service, name = method.rsplit("/", 1)
    descriptor = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(name)
    request: Any = message_factory.GetMessageClass(descriptor.input_type)()
    claim = json_format.ParseDict({"claimId": claim_id, **PROBE_CLAIM}, claim_pb2.Claim())
    if descriptor.input_type.full_name == "claimscrub.v1.Claim":
        request.CopyFrom(claim)
    elif "claim" in descriptor.input_type.fields_by_name:
        request.claim.CopyFrom(claim)
        if "text" in descriptor.input_type.fields_by_name:
            request.text = "Seen today for gait training."
    else:  # GetEnrollment
        request.npi, request.payer_id, request.date = "1234567893", "MEDICARE", "2026-05-04"
    return request


def _call(
    services: dict[str, ServiceProcess], certs: Path, principal: str, method: str, claim_id: str
) -> grpc.StatusCode:
    service = method.rsplit("/", 1)[0]
    target = f"127.0.0.1:{services[SERVED_BY[service]].grpc_port}"
    request = _request(method, claim_id)
    with grpc_client.channel(target, tls=_client(certs / "ca.pem", certs, principal)) as ch:
        call = ch.unary_unary(
            f"/{method}", request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=lambda b: b,
        )  # fmt: skip
        try:
            call(request, timeout=10)
        except grpc.RpcError as exc:
            code: grpc.StatusCode = exc.code()
            assert claim_id not in (exc.details() or ""), "a refusal quotes no request content"
            return code
    return grpc.StatusCode.OK


UNITS_CHECK = "claimscrub.v1.UnitsService/Check"


def test_each_principal_may_call_exactly_the_methods_the_policy_grants(
    secure_services: dict[str, ServiceProcess], certs: Path
) -> None:
    from claimscrub.runtime.devcerts import all_principals
    from claimscrub.runtime.grpc_access import load_policy

    policy = load_policy()
    denied = grpc.StatusCode.PERMISSION_DENIED
    outcomes: dict[tuple[str, str], str] = {}
    expected: dict[tuple[str, str], str] = {}
    for method in sorted(m for m in policy.methods if m.rsplit("/", 1)[0] in SERVED_BY):
        for who in all_principals():
            if who == "broker":
                continue
            code = _call(secure_services, certs, who, method, f"AUTHZ-{who}")
            outcomes[(who, method)] = "denied" if code is denied else "served"
            expected[(who, method)] = "served" if policy.allows(who, method) else "denied"
    assert outcomes == expected
    # The examples, spelled out.
    assert outcomes[("analytics", "claimscrub.v1.NecessityService/Check")] == "denied"
    assert outcomes[("analytics", "claimscrub.v1.RedactionService/RedactClaim")] == "denied"
    assert outcomes[("aggregator", "claimscrub.v1.NecessityService/Check")] == "served"


def _audit_events(
    kafka: LocalKafka, who: str, since: Any, until: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """``who``'s audit.access events since ``since``, read as the auditor
    until ``until`` says the expected ones are there (or a minute has passed)."""
    import time

    from claimscrub.runtime.audit import query

    deadline = time.monotonic() + 60
    while True:
        events = list(query(kafka.bootstrap, kafka.security("auditor"), principal=who, since=since))
        if until(events) or time.monotonic() > deadline:
            return events
        time.sleep(1)


def test_every_phi_call_leaves_one_audit_event_and_health_checks_none(
    secure_services: dict[str, ServiceProcess],
    secure_kafka: LocalKafka,
    certs: Path,
    hmac_file: Path,
) -> None:
    import datetime as dt

    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from claimscrub.runtime.audit import ClaimTokens

    since = dt.datetime.now(dt.UTC)
    ids = [f"AUDIT-{i}" for i in range(3)]
    for claim_id in ids:
        assert _call(secure_services, certs, "aggregator", UNITS_CHECK, claim_id).name == "OK"
    # Refused, and audited as such (who tried is what an auditor asks first).
    refused_code = _call(secure_services, certs, "provider-loader", UNITS_CHECK, "AUDIT-X")
    assert refused_code is grpc.StatusCode.PERMISSION_DENIED
    target = f"127.0.0.1:{secure_services['units'].grpc_port}"
    with grpc_client.channel(target, tls=_client(certs / "ca.pem", certs, "aggregator")) as ch:
        for _ in range(5):
            health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
    tokens = ClaimTokens(hmac_file.read_text().strip().encode())
    wanted = {tokens(i) for i in ids}

    def tokened(events: list[dict[str, Any]], want: set[str | None]) -> list[dict[str, Any]]:
        return [e for e in events if e.get("claimToken") in want]

    events = _audit_events(
        secure_kafka, "aggregator", since, lambda got: len(tokened(got, wanted)) >= len(ids)
    )
    mine = tokened(events, wanted)
    assert sorted(str(e["claimToken"]) for e in mine) == sorted(map(str, wanted))  # one each
    assert {(e["method"], e["outcome"], e["recordedBy"]) for e in mine} == {
        (f"/{UNITS_CHECK}", "OK", "UnitsService")
    }
    assert not [e for e in events if "Health" in e.get("method", "")]
    assert all(i not in json.dumps(e) for e in events for i in ids), "no claimId in clear"
    attempt = {tokens("AUDIT-X")}
    refused = tokened(
        _audit_events(
            secure_kafka, "provider-loader", since, lambda got: bool(tokened(got, attempt))
        ),
        attempt,
    )
    assert [(e["outcome"], e["method"]) for e in refused] == [
        ("PermissionDenied", f"/{UNITS_CHECK}")
    ]


def test_audit_query_as_the_auditor_and_nobody_else(
    secure_services: dict[str, ServiceProcess], secure_kafka: LocalKafka, certs: Path
) -> None:
    assert _call(secure_services, certs, "aggregator", UNITS_CHECK, "AUDIT-Q").name == "OK"

    def run(principal: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "CLAIMSCRUB_MODE": "production"}
        env.update(secure_kafka.client_env(principal))
        return subprocess.run(
            [sys.executable, "-m", "claimscrub.cli.main", "audit", "query",
             "--principal", "aggregator", "--since", "2000-01-01", "--timeout", "60"],
            env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
        )  # fmt: skip

    auditor = run("auditor")
    assert auditor.returncode == 0, auditor.stderr
    lines = [json.loads(line) for line in auditor.stdout.splitlines()]
    assert lines and {e["principal"] for e in lines} == {"aggregator"}
    for intruder in ("analytics", "units"):
        refused = run(intruder)
        assert refused.returncode != 0 and refused.stdout == "", intruder
    k = secure_kafka
    as_analytics = _consume_one(k.bootstrap, k.security("analytics"), "audit.access", "analytics-a")
    assert as_analytics == "TOPIC_AUTHORIZATION_FAILED"


def test_submit_wait_audits_each_result_it_shows(
    submitted: subprocess.CompletedProcess[str], secure_kafka: LocalKafka, examples_dir: Path
) -> None:
    """The first submit ran in production without the HMAC key: its events
    name the principal and topic, and no claim token (never a guessable one)."""
    import datetime as dt

    assert submitted.returncode == 0, submitted.stderr
    ids = _claim_ids(examples_dir)
    since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

    def reads(got: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in got if e.get("topic") == CLAIMS_SCRUBBED.name]

    events = reads(
        _audit_events(secure_kafka, "submitter", since, lambda got: len(reads(got)) >= len(ids))
    )
    assert len(events) >= len(ids)
    assert all(e["outcome"] == "read" and e["recordedBy"] == "claimscrub-cli" for e in events)
    assert "audit events were not written" not in submitted.stderr


def test_the_phi_topics_carry_their_retention_on_the_broker(secure_kafka: LocalKafka) -> None:
    from confluent_kafka.admin import AdminClient, ConfigResource

    from claimscrub.runtime.topics import topic_configs

    wanted = {
        name: configs
        for name, configs in topic_configs(env={}).items()
        if "retention.ms" in configs
    }
    assert {"claims.submitted", "claims.dlq", "audit.access"} <= set(wanted)
    admin = AdminClient(client_config(secure_kafka.bootstrap, secure_kafka.security("admin")))
    found = admin.describe_configs([ConfigResource("topic", name) for name in wanted])
    on_broker = {
        resource.name: {k: entry.value for k, entry in future.result(timeout=30).items()}
        for resource, future in found.items()
    }
    for name, configs in wanted.items():
        for key, value in configs.items():
            assert on_broker[name].get(key) == value, (name, key)
