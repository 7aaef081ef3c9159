# claimscrub: `make demo` runs the pipeline on the bundled examples,
# `make test` runs every test. Both set up what they need first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CACHE := .cache
RUN := .run
BUF_VERSION := 1.75.0
BUF := $(CACHE)/buf/node_modules/.bin/buf
PROTOS := $(wildcard protos/claimscrub/v1/*.proto)
GEN_STAMP := services/v1/.generated
# Deployment checks: helm built from the Go module proxy into .cache/go, the
# Kubernetes version the manifests are validated against, one run per region.
HELM_VERSION := v3.22.0
GO_ENV := GOPATH=$(abspath $(CACHE))/go GOMODCACHE=$(abspath $(CACHE))/go/mod \
  GOCACHE=$(abspath $(CACHE))/go/build GOBIN=$(abspath $(CACHE))/go/bin GOFLAGS=-modcacherw GOTOOLCHAIN=local
HELM := $(CACHE)/go/bin/helm
HELM_STAMP := $(CACHE)/go/helm-$(HELM_VERSION).installed
KUBE_VERSION := 1.33.0
CHART := helm/claimscrub
REGIONS := $(patsubst $(CHART)/values-%.yaml,%,$(wildcard $(CHART)/values-*.yaml))
# The operators' APIs, to render the KEDA/prometheus-operator branch too.
OPERATOR_APIS := --api-versions keda.sh/v1alpha1/ScaledObject \
  --api-versions monitoring.coreos.com/v1/ServiceMonitor --api-versions monitoring.coreos.com/v1/PrometheusRule
# The local broker's client port (deploy/kafka/kafka.sh; another stack beside
# this one: KAFKA_PORT and CLAIMSCRUB_PORT_BASE, deploy/local/stack.sh).
export KAFKA_PORT ?= 9092
export KAFKA_BOOTSTRAP_SERVERS ?= 127.0.0.1:$(KAFKA_PORT)
# Provider enrollment records `make up` publishes to providers.enrollment.
ENROLLMENT_FILE ?= examples/enrollment.json
# KAFKA_SECURITY=secure: the local broker with TLS, SCRAM users and ACLs, the
# services in production mode with mTLS (docs/operations.md, "Security").
export KAFKA_SECURITY ?= plaintext
# One principal's Kafka settings for a CLI command (nothing in plaintext mode);
# secure: its PHI reads audited on audit.access, claim tokens under the stack's key.
AS = env $$(deploy/kafka/kafka.sh client-env $(1)) $(if $(filter secure,$(KAFKA_SECURITY)),CLAIMSCRUB_AUDIT=true CLAIMSCRUB_HMAC_KEY_FILE=$(RUN)/certs/hmac.key)

.PHONY: help prereqs setup proto kafka-fetch kafka-start kafka-stop kafka-status up down status \
        demo test test-unit test-integration lint format bench bench-state fuzz lock clean certs \
        check-deploy dashboards helm prometheus-tools registry

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

prereqs: ## check Python 3.11+, Java 17+ and Maven are installed
	@command -v $(PYTHON) >/dev/null || { echo "make: Python 3.11+ is required ($(PYTHON) not found)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "make: Python 3.11+ is required (found $$($(PYTHON) -V))"; exit 1; }
	@command -v java >/dev/null || { echo "make: Java 17+ is required for the local Kafka broker (java not found)"; exit 1; }
	@v=$$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/{print $$2}'); \
	  [ "$${v%%.*}" -ge 17 ] 2>/dev/null || { echo "make: Java 17+ is required (found $$v)"; exit 1; }
	@command -v mvn >/dev/null || { echo "make: Maven is required to fetch the Kafka broker jars (mvn not found)"; exit 1; }

$(VENV)/.installed: requirements.lock pyproject.toml | prereqs
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

$(GEN_STAMP): $(PROTOS) $(VENV)/.installed
	@rm -rf build/proto services/v1 && mkdir -p build/proto
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m grpc_tools.protoc -Iprotos --python_out=build/proto --grpc_python_out=build/proto \
	  --mypy_out=build/proto --mypy_grpc_out=build/proto $(PROTOS)
	@mkdir -p services/v1 && cp build/proto/claimscrub/v1/* services/v1/ && \
	  echo '"""Generated from protos/claimscrub/v1 by `make proto`; do not edit."""' > services/v1/__init__.py
	@touch $@

proto: $(GEN_STAMP) ## generate Python code from protos/

setup: $(VENV)/.installed $(GEN_STAMP) kafka-fetch ## install everything: venv, pinned deps, generated code, Kafka jars

kafka-fetch: prereqs
	@deploy/kafka/kafka.sh fetch

certs: setup ## throwaway CA, certificates, SCRAM passwords, HMAC key in .run/certs (never for PHI)
	$(PY) -m claimscrub.runtime.devcerts $(RUN)/certs

kafka-start: setup ## start the local Kafka broker and create the topics
	@PYTHON=$(abspath $(PY)) deploy/kafka/kafka.sh start
	@PYTHON=$(abspath $(PY)) deploy/kafka/kafka.sh topics

kafka-stop: ## stop the local Kafka broker
	@deploy/kafka/kafka.sh stop

kafka-status:
	@deploy/kafka/kafka.sh status

up: kafka-start ## start Kafka, publish ENROLLMENT_FILE, start every service in the background
	@$(call AS,provider-loader) $(VENV)/bin/claimscrub enrollment load $(ENROLLMENT_FILE)
	@PYTHON=$(abspath $(PY)) deploy/local/stack.sh start

down: ## stop every service and Kafka
	@deploy/local/stack.sh stop
	@deploy/kafka/kafka.sh stop

status: ## show what is running
	@deploy/local/stack.sh status; deploy/kafka/kafka.sh status || true

demo: up ## start everything; the examples, a payer policy version and an 837P through Kafka; stop
	@trap '$(MAKE) --no-print-directory down' EXIT; deploy/local/demo.sh

test: setup lint check-deploy ## lint, deployment checks, then every test (unit and against a real Kafka broker)
	PY=$(PY) RUN=$(RUN) tests/run_suite.sh

test-unit: setup
	$(PY) -m pytest -q tests/unit

test-integration: setup
	$(PY) -m pytest -q tests/integration

$(BUF):
	@command -v npm >/dev/null || { echo "make: npm is required to install buf for 'make lint' (npm not found)"; exit 1; }
	@mkdir -p $(CACHE)/buf
	npm install --silent --no-audit --no-fund --prefix $(CACHE)/buf @bufbuild/buf@$(BUF_VERSION) >/dev/null

lint: setup $(BUF) ## ruff, mypy and buf lint
	$(VENV)/bin/ruff check services tests deploy
	$(VENV)/bin/ruff format --check services tests deploy
	@# mypy cannot follow setuptools' editable finder; show it the package by name.
	@mkdir -p build/mypy && ln -sfn ../../services build/mypy/claimscrub
	$(VENV)/bin/mypy -p claimscrub -p tests
	$(VENV)/bin/mypy deploy/grafana/generate.py deploy/tools/validate_manifests.py
	cd protos && ../$(BUF) lint

format: setup
	$(VENV)/bin/ruff check --fix services tests deploy
	$(VENV)/bin/ruff format services tests deploy

$(HELM_STAMP):
	@command -v go >/dev/null || { echo "make: Go is required to build helm for 'make check-deploy' (go not found)"; exit 1; }
	@mkdir -p $(CACHE)/go
	$(GO_ENV) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	@# The module cache stays (a rebuild needs no download); the build cache is 700 MB of objects.
	@$(GO_ENV) go clean -cache
	@touch $@

helm: $(HELM_STAMP) ## build helm into .cache/go/bin from the Go module proxy (once)

prometheus-tools: ## install Debian's prometheus package (promtool + server) if missing
	@deploy/tools/install-prometheus.sh

dashboards: setup ## regenerate the Grafana dashboards (and the chart's copies)
	$(PY) deploy/grafana/generate.py

registry: setup ## rewrite the blocks rendered from services/runtime/data/services.json, then the dashboards
	$(PY) -m claimscrub.runtime.registry render
	$(PY) deploy/grafana/generate.py

check-deploy: setup $(HELM_STAMP) prometheus-tools ## dashboards current, helm lint/template/validate per region, promtool
	$(PY) -m claimscrub.runtime.registry render --check
	$(PY) deploy/grafana/generate.py --check
	@rm -rf build/helm && mkdir -p build/helm
	@set -e; for r in default $(REGIONS); do \
	  f=$$([ $$r = default ] || echo "-f $(CHART)/values-$$r.yaml"); \
	  $(HELM) lint --strict --quiet --kube-version $(KUBE_VERSION) $(CHART) $$f; \
	  $(HELM) template claimscrub $(CHART) $$f --kube-version $(KUBE_VERSION) > build/helm/$$r.yaml; \
	  $(HELM) template claimscrub $(CHART) $$f --kube-version $(KUBE_VERSION) $(OPERATOR_APIS) \
	    > build/helm/$$r-operators.yaml; \
	done
	$(PY) deploy/tools/validate_manifests.py --kube-version $(KUBE_VERSION) build/helm/*.yaml
	cd deploy/prometheus && promtool check rules alerts.yml && promtool check config prometheus.yml \
	  && promtool test rules alerts.test.yml

bench: setup ## throughput and latency beside baselines, state at scale (QUICK=1: a short version)
	$(PY) -m claimscrub.bench $(if $(filter-out 0,$(QUICK)),--quick)

bench-state: setup ## 2M histories, 5M fingerprints restored from changelogs, claims scrubbed against them (QUICK=1: a tenth)
	$(PY) -m claimscrub.bench --state-only $(if $(filter-out 0,$(QUICK)),--quick)

fuzz: setup ## the rule fuzz tests on fresh random claims (FUZZ_EXAMPLES=2000 by default)
	FUZZ_RANDOM=1 FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-2000} $(PY) -m pytest -q -p no:cacheprovider tests/unit/test_fuzz.py

lock: ## re-resolve requirements.lock from pyproject.toml
	@rm -rf $(CACHE)/lockenv && $(PYTHON) -m venv $(CACHE)/lockenv
	$(CACHE)/lockenv/bin/pip install -q -e '.[dev]'
	$(CACHE)/lockenv/bin/pip freeze --exclude-editable > requirements.lock

clean: down ## stop everything and remove local state (keeps caches)
	rm -rf $(RUN) build services/v1
