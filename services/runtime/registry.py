"""The service registry (``data/services.json``): every service once, in start order.

Python reads it here: the pipeline the tests and the bench start
(:data:`claimscrub.runtime.pipeline.PIPELINE`), the aggregator's default
required checks and their addresses. Files that cannot read JSON when they
run carry a block rendered from it: ``python -m claimscrub.runtime.registry
render`` (``make registry``) rewrites those blocks, ``render --check`` fails
when one differs (tests/unit/test_registry.py runs the same comparison), and
``stack`` prints the table deploy/local/stack.sh starts. docs/architecture.md
"Adding a service" says how the pieces fit.

A rendered block lies between a line holding ``BEGIN registry:<block>`` and
one holding ``END registry:<block>``; the lines around it are the file's own.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

VERSION = 1


class RegistryError(ValueError):
    """The registry file breaks one of its rules (the message says which)."""


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    module: str
    grpc_port: int
    metrics_port: int
    principal: str
    #: The CheckName it reports on claims.checks (the aggregator waits for it), or None.
    check: str | None
    consumes: tuple[str, ...]
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    hmac_key: bool
    note: str
    chart: dict[str, Any] = field(default_factory=dict)
    #: Runs Quix's exactly-once: its producer's transactional ids start with its group.
    exactly_once: bool = False

    @property
    def command(self) -> str:
        """Its console script (pyproject.toml [project.scripts])."""
        return f"claimscrub-{self.name}"

    @property
    def group(self) -> str:
        """Its consumer group: the engine's internal topics are named after it."""
        return f"claimscrub-{self.name}"

    @property
    def address_variable(self) -> str:
        """The variable that tells its callers where its gRPC server is."""
        return f"CLAIMSCRUB_{self.name.upper().replace('-', '_')}_ADDR"


def _strings(raw: dict[str, Any], key: str, name: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RegistryError(f"service {name}: {key} must be a list of topic names")
    return tuple(value)


def _service(raw: dict[str, Any]) -> Service:
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise RegistryError(f"a service name must be lower-case letters, digits, -: {name!r}")
    for key in ("grpcPort", "metricsPort"):
        port = raw.get(key)
        if not isinstance(port, int) or not 1024 <= port <= 65535:
            raise RegistryError(f"service {name}: {key} must be a port from 1024 to 65535")
    known = {
        "name", "module", "grpcPort", "metricsPort", "principal", "check", "consumes",
        "reads", "writes", "hmacKey", "note", "chart", "exactlyOnce",
    }  # fmt: skip
    if unknown := sorted(set(raw) - known):
        raise RegistryError(f"service {name}: unknown fields {', '.join(unknown)}")
    check = raw.get("check")
    if check is not None and not isinstance(check, str):
        raise RegistryError(f"service {name}: check must be a check name or null")
    chart = raw.get("chart", {})
    if not isinstance(chart, dict):
        raise RegistryError(f"service {name}: chart must be an object of Helm values")
    return Service(
        name=name,
        module=str(raw.get("module") or f"claimscrub.{name}.main"),
        grpc_port=raw["grpcPort"],
        metrics_port=raw["metricsPort"],
        principal=str(raw.get("principal") or name),
        check=check,
        consumes=_strings(raw, "consumes", name),
        reads=_strings(raw, "reads", name),
        writes=_strings(raw, "writes", name),
        hmac_key=bool(raw.get("hmacKey", True)),
        note=str(raw.get("note", "")),
        chart=chart,
        exactly_once=raw.get("exactlyOnce", False) is True,
    )


def parse(text: str) -> tuple[Service, ...]:
    """The services of a registry file's text, checked: unique names, ports
    and principals; known topics and checks; a service consumes only what it
    may read."""
    from claimscrub.core.edits import CheckName
    from claimscrub.runtime.topics import ALL_TOPICS

    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise RegistryError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise RegistryError(f"the registry must be an object with version {VERSION}")
    rows = doc.get("services")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise RegistryError("services must be a non-empty list of objects")
    found = tuple(_service(r) for r in rows)
    topics = {t.name for t in ALL_TOPICS}
    checks = {c.value for c in CheckName} - {CheckName.CLAIM.value}
    for what, values in (
        ("name", [s.name for s in found]),
        ("principal", [s.principal for s in found]),
        ("port", [str(p) for s in found for p in (s.grpc_port, s.metrics_port)]),
        ("check", [s.check for s in found if s.check]),
    ):
        if dupes := sorted({v for v in values if values.count(v) > 1}):
            raise RegistryError(f"{what} used twice: {', '.join(dupes)}")
    for s in found:
        if unknown := sorted({*s.consumes, *s.reads, *s.writes} - topics):
            raise RegistryError(f"service {s.name}: no such topic in runtime/topics.py: {unknown}")
        if not set(s.consumes) <= set(s.reads):
            raise RegistryError(f"service {s.name}: consumes a topic it may not read")
        if s.check is not None and s.check not in checks:
            raise RegistryError(f"service {s.name}: no such check {s.check}")
    return found


@cache
def services() -> tuple[Service, ...]:
    """The bundled registry's services, in start order."""
    text = resources.files("claimscrub.runtime").joinpath("data/services.json")
    return parse(text.read_text("utf-8"))


def service(name: str) -> Service:
    for s in services():
        if s.name == name:
            return s
    raise KeyError(name)


def _check_services(reg: tuple[Service, ...]) -> list[Service]:
    """The services that report a check, in the order of CheckName (the
    contract's), which is also the order of CHECK_INCOMPLETE edits."""
    from claimscrub.core.edits import CheckName

    order = [c.value for c in CheckName]
    return sorted((s for s in reg if s.check), key=lambda s: order.index(str(s.check)))


def required_checks() -> tuple[str, ...]:
    """The checks the aggregator waits for unless CLAIMSCRUB_REQUIRED_CHECKS says otherwise."""
    return tuple(str(s.check) for s in _check_services(services()))


def check_addresses() -> dict[str, tuple[str, str]]:
    """Check name -> (the variable with its service's gRPC address, its local default)."""
    return {
        str(s.check): (s.address_variable, f"127.0.0.1:{s.grpc_port}")
        for s in _check_services(services())
    }


# --- rendering the blocks of the files that cannot read the registry ---


def _compose_env(reg: tuple[Service, ...]) -> list[str]:
    checks = _check_services(reg)
    lines = [f"CLAIMSCRUB_REQUIRED_CHECKS: {','.join(str(s.check) for s in checks)}"]
    lines += [f"{s.address_variable}: {s.name}:{s.grpc_port}" for s in checks]
    return lines


def _compose_services(reg: tuple[Service, ...]) -> list[str]:
    lines: list[str] = []
    for s in reg:
        g, m = s.grpc_port, s.metrics_port
        if lines:
            lines.append("")
        lines += [
            f"{s.name}:",
            "  <<: *claimscrub",
            f'  command: ["{s.command}"]',
            "  environment:",
            "    <<: *env",
            f'    CLAIMSCRUB_GRPC_PORT: "{g}"',
            f'    CLAIMSCRUB_METRICS_PORT: "{m}"',
            f'  ports: ["{g}:{g}", "{m}:{m}"]',
            "  healthcheck:",
            f'    test: ["CMD", "python", "-m", "claimscrub.runtime.healthcheck", "127.0.0.1:{g}"]',
            "    interval: 10s",
        ]
    return lines


def _own_secrets(s: Service) -> list[str]:
    p = s.principal
    return ["ca", f"scram-{p}", f"{p}-cert", f"{p}-key", *(["hmac-key"] if s.hmac_key else [])]


def _secure_secrets(reg: tuple[Service, ...]) -> list[str]:
    lines: list[str] = []
    for s in reg:
        p = s.principal
        for secret, file in (
            (f"scram-{p}", f"{p}.password"),
            (f"{p}-cert", f"{p}.pem"),
            (f"{p}-key", f"{p}-key.pem"),
        ):
            lines += [f"{secret}:", f"  file: ../.run/certs/{file}"]
    return lines


def _secure_kafka_secrets(reg: tuple[Service, ...]) -> list[str]:
    names = ["ca", "broker-keystore", "scram-admin", *(f"scram-{s.principal}" for s in reg)]
    return [f"secrets: [{', '.join(names)}]"]


def _secure_services(reg: tuple[Service, ...]) -> list[str]:
    lines: list[str] = []
    for s in reg:
        p = s.principal
        if lines:
            lines.append("")
        lines += [
            f"{s.name}:",
            "  environment:",
            "    <<: *secure-env",
            f"    KAFKA_SASL_USERNAME: {p}",
            f"    KAFKA_SASL_PASSWORD_FILE: /run/secrets/scram-{p}",
            f"    CLAIMSCRUB_GRPC_TLS_CERT: /run/secrets/{p}-cert",
            f"    CLAIMSCRUB_GRPC_TLS_KEY: /run/secrets/{p}-key",
            *(["    CLAIMSCRUB_HMAC_KEY_FILE: /run/secrets/hmac-key"] if s.hmac_key else []),
            f"  secrets: [{', '.join(_own_secrets(s))}]",
            "  healthcheck:",
            '    test: ["CMD", "python", "-m", "claimscrub.runtime.healthcheck", '
            '"127.0.0.1:8086", "--plaintext"]',
        ]
    return lines


def _prometheus(reg: tuple[Service, ...]) -> list[str]:
    lines: list[str] = []
    for s in reg:
        lines += [
            f"- job_name: {s.name}",
            f'  static_configs: [{{targets: ["{s.name}:{s.metrics_port}"]}}]',
        ]
    return lines


def _helm_services(reg: tuple[Service, ...]) -> list[str]:
    lines: list[str] = []
    for s in reg:
        lines += [
            f"{s.name}:",
            "  enabled: true",
            f"  grpcPort: {s.grpc_port}",
            f"  metricsPort: {s.metrics_port}",
            *([f"  check: {s.check}"] if s.check else []),
            f"  consumes: [{', '.join(s.consumes)}]",
            f"  hmacKey: {'true' if s.hmac_key else 'false'}",
            *([f"  kafkaPrincipal: {s.principal}"] if s.principal != s.name else []),
        ]
        lines += [f"  {line}" for line in _yaml_lines(s.chart)]
    return lines


def _yaml_lines(values: dict[str, Any]) -> list[str]:
    """Helm values as the chart writes them: a mapping of mappings in blocks,
    anything flatter on one line."""
    import yaml  # a development dependency: only `render` needs it

    lines: list[str] = []
    for key, value in values.items():
        if isinstance(value, dict) and any(isinstance(v, dict | list) for v in value.values()):
            lines += [f"{key}:", *(f"  {line}" for line in _yaml_lines(value))]
        else:
            flow = yaml.safe_dump(value, default_flow_style=True, width=1 << 16)
            lines.append(f"{key}: {flow.removesuffix(chr(10)).removesuffix(chr(10) + '...')}")
    return lines


def _ports_table(reg: tuple[Service, ...]) -> list[str]:
    return [
        "| service | gRPC | metrics |",
        "|---|---|---|",
        *(f"| {s.name} | {s.grpc_port} | {s.metrics_port} |" for s in reg),
    ]


Block = Callable[[tuple[Service, ...]], list[str]]

#: File -> its blocks, each rendered from the registry.
BLOCKS: dict[str, dict[str, Block]] = {
    "deploy/docker-compose.yml": {"env": _compose_env, "services": _compose_services},
    "deploy/docker-compose.secure.yml": {
        "secrets": _secure_secrets,
        "kafka-secrets": _secure_kafka_secrets,
        "services": _secure_services,
    },
    "deploy/prometheus/prometheus.yml": {"scrape": _prometheus},
    "helm/claimscrub/values.yaml": {"services": _helm_services},
    "docs/configuration.md": {"ports": _ports_table},
}
#: Files whose every ``job=~"a|b|..."`` selector names the registry's services.
JOB_SELECTORS = ("deploy/prometheus/alerts.yml", "helm/claimscrub/files/alerts.yml")
ACL_TABLE = "services/runtime/data/kafka_acls.json"


def render_blocks(text: str, blocks: Mapping[str, Block], reg: tuple[Service, ...]) -> str:
    """``text`` with each of its ``BEGIN registry:<block>`` blocks rendered anew."""
    out: list[str] = []
    lines = iter(text.splitlines(keepends=True))
    seen: set[str] = set()
    for line in lines:
        out.append(line)
        begin = re.search(r"BEGIN registry:([a-z-]+)", line)
        if not begin:
            continue
        block = begin[1]
        if block not in blocks:
            raise RegistryError(f"no block {block} is rendered for this file")
        indent = line[: len(line) - len(line.lstrip())]
        out += [f"{indent}{x}\n" if x else "\n" for x in blocks[block](reg)]
        for skipped in lines:
            if f"END registry:{block}" in skipped:
                out.append(skipped)
                break
        else:
            raise RegistryError(f"block {block} has no END registry:{block} line")
        seen.add(block)
    if missing := sorted(set(blocks) - seen):
        raise RegistryError(f"no BEGIN registry: line for {', '.join(missing)}")
    return "".join(out)


def render_job_selectors(text: str, reg: tuple[Service, ...]) -> str:
    jobs = "|".join(s.name for s in reg)
    return re.sub(r'job=~"[a-z][a-z0-9|-]*"', f'job=~"{jobs}"', text)


def render_acl_table(text: str, reg: tuple[Service, ...]) -> str:
    """The ACL table with one row per service (its topics, its consumer group,
    its group prefix, the engine's grants), in registry order before the other
    principals'."""
    table = json.loads(text)
    names = {s.principal for s in reg}
    rows: dict[str, Any] = {}
    for s in reg:
        rows[s.principal] = {
            "_note": s.note or f"claimscrub-{s.name}",
            "read": list(s.reads),
            "write": list(s.writes),
            "groups": [s.group],
            # Its other consumers' group ids (e.g. the enrollment table's follower).
            "groupPrefix": f"{s.group}-",
            "engine": True,
        }
        if s.exactly_once:
            rows[s.principal]["transactionalIdPrefix"] = f"{s.group}-"
    for principal, row in table["principals"].items():
        if principal not in names and not row.get("engine"):
            rows[principal] = row
    table["principals"] = rows
    return json.dumps(table, indent=2, ensure_ascii=False) + "\n"


def render(root: Path, reg: tuple[Service, ...] | None = None) -> dict[str, str]:
    """Relative path -> the file's text as the registry renders it."""
    reg = services() if reg is None else reg
    out = {
        path: render_blocks((root / path).read_text("utf-8"), blocks, reg)
        for path, blocks in BLOCKS.items()
    }
    for path in JOB_SELECTORS:
        out[path] = render_job_selectors((root / path).read_text("utf-8"), reg)
    out[ACL_TABLE] = render_acl_table((root / ACL_TABLE).read_text("utf-8"), reg)
    return out


def stale(root: Path) -> list[str]:
    """The rendered files that differ from what the registry renders."""
    return [p for p, text in render(root).items() if (root / p).read_text("utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m claimscrub.runtime.registry",
        description="The claimscrub service registry (runtime/data/services.json).",
    )
    parser.add_argument("command", choices=["list", "stack", "render"])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (render)")
    parser.add_argument("--check", action="store_true", help="render: only report stale files")
    args = parser.parse_args(argv)
    try:
        reg = services()
    except RegistryError as exc:
        print(f"registry: {exc}", file=sys.stderr)
        return 2
    if args.command == "stack":
        # deploy/local/stack.sh: name module grpc-port metrics-port, in start order.
        for s in reg:
            print(s.name, s.module, s.grpc_port, s.metrics_port)
        return 0
    if args.command == "list":
        for s in reg:
            print(
                f"{s.name}\t{s.module}\tgrpc={s.grpc_port}\tmetrics={s.metrics_port}\t"
                f"principal={s.principal}\tcheck={s.check or '-'}"
            )
        return 0
    try:
        rendered = render(args.root, reg)
    except (OSError, RegistryError) as exc:
        print(f"registry: cannot render: {exc}", file=sys.stderr)
        return 2
    changed = [p for p, text in rendered.items() if (args.root / p).read_text("utf-8") != text]
    if args.check:
        for p in changed:
            print(f"registry: {p} differs from the registry: run make registry", file=sys.stderr)
        return 1 if changed else 0
    for p in changed:
        (args.root / p).write_text(rendered[p], "utf-8")
        print(f"registry: wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
