"""The shared runtime every service runs on.

Public API: :mod:`settings` (configuration from the environment),
:mod:`topics` (the typed topic registry), :mod:`logs` (structlog JSON logs),
:mod:`metrics` (Prometheus), :mod:`grpc_server` (grpc.aio with health and
reflection), :mod:`streams` (the Faust app factory) and :mod:`service`
(start, run, graceful stop). :mod:`testing` holds helpers for tests.
"""
