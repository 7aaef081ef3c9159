# syntax=docker/dockerfile:1
# One image for every claimscrub service; the command picks the service:
#   docker build -t claimscrub .
#   docker run claimscrub claimscrub-units        # or claimscrub-aggregator, ...
#   docker run claimscrub python -m claimscrub.runtime.topics create
# Non-root (uid 10001), slim, runs with a read-only root filesystem: the only
# writable paths are /tmp and CLAIMSCRUB_DATA_DIR, mounted by the orchestrator
# (emptyDir in helm/claimscrub, tmpfs in deploy/docker-compose.yml).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY protos ./protos
COPY services ./services
# Generate services/v1 from protos/ as `make proto` does, with the lock's
# grpcio-tools, in a throwaway environment.
RUN python -m venv /opt/tools \
 && /opt/tools/bin/pip install -q $(grep -E '^(grpcio-tools|grpcio|protobuf)==' requirements.lock) \
 && rm -rf services/v1 && mkdir -p build/proto services/v1 \
 && /opt/tools/bin/python -m grpc_tools.protoc -Iprotos --python_out=build/proto \
      --grpc_python_out=build/proto protos/claimscrub/v1/*.proto \
 && cp build/proto/claimscrub/v1/*.py services/v1/ \
 && echo '"""Generated from protos/claimscrub/v1; do not edit."""' > services/v1/__init__.py
# The runtime dependencies only, pinned by the lock file.
RUN python -m venv /opt/claimscrub \
 && /opt/claimscrub/bin/pip install -q --constraint requirements.lock .

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="claimscrub" \
      org.opencontainers.image.description="Claim scrubbing services for outpatient therapy billing" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 claimscrub \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin claimscrub \
 && install -d -o 10001 -g 10001 /var/lib/claimscrub
COPY --from=build /opt/claimscrub /opt/claimscrub
ENV PATH=/opt/claimscrub/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CLAIMSCRUB_DATA_DIR=/var/lib/claimscrub \
    CLAIMSCRUB_GRPC_HOST=0.0.0.0
WORKDIR /var/lib/claimscrub
USER 10001:10001
# No default service: name one (see the top of this file).
CMD ["claimscrub", "--help"]
