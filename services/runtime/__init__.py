"""The shared runtime every service runs on.

Public API: :mod:`settings` (configuration from the environment),
:mod:`topics` (the typed topic registry), :mod:`logs` (structlog JSON logs),
:mod:`metrics` (Prometheus), :mod:`grpc_server` (grpc.aio with health and
reflection), :mod:`engine` (the stream engine: a Quix Streams Application
and the record guard around each step), :mod:`runner` (start, run, graceful
stop). :mod:`testing` holds helpers for tests.
"""
