"""The shared runtime every service runs on.

Public API: :mod:`settings` (configuration from the environment),
:mod:`topics` (the typed topic registry), :mod:`logs` (structlog JSON logs),
:mod:`metrics` (Prometheus), :mod:`grpc_server` (grpc.aio with health and
reflection), :mod:`engine` (the stream engine: a Quix Streams Application
and the record guard around each step), :mod:`runner` (start, run, graceful
stop). :mod:`testing` holds helpers for tests.
"""

import warnings

# confluent-kafka's schema-registry client (imported by Quix Streams, unused
# here) imports authlib's deprecated httpx integration; the warning would be
# every service's first line on stderr. authlib turns its warnings on when
# imported, so the filter goes in after it.
import authlib.deprecate  # noqa: F401

warnings.filterwarnings("ignore", message="The httpx module is deprecated")
