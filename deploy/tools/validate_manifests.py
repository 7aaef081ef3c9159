"""Validate rendered Kubernetes manifests offline.

    python deploy/tools/validate_manifests.py --kube-version 1.33.0 FILE...

Built-in kinds go through kubernetes-validate in strict mode (unknown fields
are errors) against the bundled OpenAPI schemas of that Kubernetes version;
the custom resources the chart renders (KEDA, prometheus-operator) go through
the subset schemas in crd-schemas/. A kind with neither fails: nothing is
waved through unvalidated. Exit 1 on any error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

CRD_SCHEMAS = Path(__file__).resolve().parent / "crd-schemas"


def _crd_schema(doc: dict[str, Any]) -> dict[str, Any] | None:
    group_version = str(doc.get("apiVersion", "")).replace("/", "_")
    path = CRD_SCHEMAS / f"{doc.get('kind')}.{group_version}.json"
    if not path.is_file():
        return None
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def validate_doc(doc: dict[str, Any], kube_version: str) -> str | None:
    """None when valid, else the reason."""
    schema = _crd_schema(doc)
    if schema is not None:
        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.path)
        )
        if errors:
            e = errors[0]
            return f"{'.'.join(str(p) for p in e.path)}: {e.message}"
        return None
    try:
        kubernetes_validate.validate(doc, kube_version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return f"{'.'.join(str(p) for p in e.path)}: {e.message}"
    except kubernetes_validate.SchemaNotFoundError:
        return f"no schema for {doc.get('apiVersion')} {doc.get('kind')}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kube-version", required=True)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failures = 0
    for path in args.files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        if not docs:
            print(f"{path}: no manifests", file=sys.stderr)
            failures += 1
        for doc in docs:
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            reason = validate_doc(doc, args.kube_version)
            if reason is not None:
                print(f"{path}: {name}: {reason}", file=sys.stderr)
                failures += 1
        print(f"{path}: {len(docs)} manifests checked")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
