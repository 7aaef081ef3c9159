"""One Kafka client security configuration for every Kafka client of the project.

Read once from the environment (docs/configuration.md, "Kafka security"):

- ``KAFKA_SECURITY_PROTOCOL``: ``PLAINTEXT`` (local default), ``SSL`` (TLS;
  with ``KAFKA_SSL_CERT_FILE``/``KAFKA_SSL_KEY_FILE`` the client presents a
  certificate, mTLS) or ``SASL_SSL`` (TLS + SASL, ``KAFKA_SASL_MECHANISM``
  default ``SCRAM-SHA-512``, ``KAFKA_SASL_USERNAME``, ``KAFKA_SASL_PASSWORD``
  or ``KAFKA_SASL_PASSWORD_FILE``).
- ``KAFKA_SSL_CA_FILE``: PEM bundle the brokers' certificates must chain to
  (unset: the system's trust store); ``KAFKA_SSL_CHECK_HOSTNAME`` (default
  true) checks the broker's name against its certificate.

``CLAIMSCRUB_MODE=production`` refuses PLAINTEXT and SASL_PLAINTEXT, SASL
without a password, SSL without a client certificate (nothing would
authenticate the client) and hostname checks turned off.

Every client is librdkafka's (confluent-kafka, also under Quix Streams): they
take file paths and dotted names (:meth:`KafkaSecurity.librdkafka_config`,
:func:`client_config`); every producer places keys as Java's does
(:func:`producer_config`, :data:`JAVA_PARTITIONER`).
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claimscrub.runtime.env import SettingsError, env_bool, env_file
from claimscrub.runtime.secrets import Mode, Secret, read_secret, require, run_mode

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# SCRAM keeps only salted hashes on the broker and never sends the password
# (RFC 5802); PLAIN is accepted for brokers that offer nothing else (over TLS only).
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
DEFAULT_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: Secret | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    check_hostname: bool = True

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def describe(self) -> str:
        """For logs: the protocol and identity, never the password."""
        if self.uses_sasl:
            return f"{self.protocol}/{self.sasl_mechanism} as {self.username}"
        if self.cert_file is not None:
            return f"{self.protocol} with client certificate"
        return self.protocol

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        e = os.environ if env is None else env
        mode = run_mode(e)
        protocol = e.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").strip().upper() or "PLAINTEXT"
        if protocol not in PROTOCOLS:
            raise SettingsError(f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}")
        require(mode, protocol in ("SSL", "SASL_SSL"), f"KAFKA_SECURITY_PROTOCOL={protocol}")
        ca_file = env_file(e, "KAFKA_SSL_CA_FILE")
        cert_file = env_file(e, "KAFKA_SSL_CERT_FILE")
        key_file = env_file(e, "KAFKA_SSL_KEY_FILE")
        if (cert_file is None) != (key_file is None):
            raise SettingsError("set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE together")
        check_hostname = env_bool(e, "KAFKA_SSL_CHECK_HOSTNAME", True)
        require(mode, check_hostname, "KAFKA_SSL_CHECK_HOSTNAME=false")
        mechanism = username = None
        password: Secret | None = None
        if protocol.startswith("SASL_"):
            mechanism = e.get("KAFKA_SASL_MECHANISM", DEFAULT_MECHANISM).strip().upper()
            if mechanism not in MECHANISMS:
                raise SettingsError(f"KAFKA_SASL_MECHANISM must be one of {', '.join(MECHANISMS)}")
            username = e.get("KAFKA_SASL_USERNAME", "").strip() or None
            password = read_secret(e, "KAFKA_SASL_PASSWORD")
            if username is None:
                raise SettingsError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME")
            if password is None:
                raise SettingsError(
                    f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_PASSWORD "
                    "or KAFKA_SASL_PASSWORD_FILE"
                )
        elif protocol == "SSL":
            require(
                mode,
                cert_file is not None,
                "KAFKA_SECURITY_PROTOCOL=SSL without KAFKA_SSL_CERT_FILE/KAFKA_SSL_KEY_FILE "
                "(the client would not authenticate)",
            )
        security = cls(
            protocol, mechanism, username, password, ca_file, cert_file, key_file, check_hostname
        )
        if security.uses_tls:
            security.ssl_context()  # unreadable or mismatched files fail now, not on connect
        return security

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file is not None and self.key_file is not None:
                context.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (ssl.SSLError, OSError) as exc:
            # The reason names the file problem (e.g. KEY_VALUES_MISMATCH), never key bytes.
            raise SettingsError(
                f"Kafka TLS files unusable ({type(exc).__name__}: {getattr(exc, 'reason', '')})"
            ) from None
        context.check_hostname = self.check_hostname
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def librdkafka_config(self) -> dict[str, str]:
        """The same settings as librdkafka properties (CONFIGURATION.md of
        librdkafka): empty for PLAINTEXT. Without a CA file the system's trust
        store is probed, as :meth:`ssl_context` uses the system's defaults."""
        config: dict[str, str] = {"security.protocol": self.protocol.lower()}
        if self.uses_tls:
            config["ssl.ca.location"] = str(self.ca_file) if self.ca_file else "probe"
            config["ssl.endpoint.identification.algorithm"] = (
                "https" if self.check_hostname else "none"
            )
            if self.cert_file is not None and self.key_file is not None:
                config["ssl.certificate.location"] = str(self.cert_file)
                config["ssl.key.location"] = str(self.key_file)
        if self.uses_sasl:
            assert self.password is not None and self.sasl_mechanism is not None
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.username or ""
            config["sasl.password"] = self.password.text()
        return config


#: The local default: no TLS, no authentication (refused in production).
PLAINTEXT = KafkaSecurity()


#: librdkafka's name for the Java client's default partitioner: murmur2 of the
#: key (a record without a key goes to a random partition). librdkafka's own
#: default (``consistent_random``, CRC32) puts a key in another partition than
#: the stream engine, Quix's state recovery and runtime/partitioner.py expect.
JAVA_PARTITIONER = "murmur2_random"


#: librdkafka's own lines (a partition count changing, a coordinator still
#: loading) go through Python logging, never raw on stderr: a service's JSON
#: log holds them, and a CLI refusal stays the one line it prints.
LIBRDKAFKA_LOG = logging.getLogger("claimscrub.librdkafka")


def client_config(
    bootstrap: str, security: KafkaSecurity | None = None, **extra: Any
) -> dict[str, Any]:
    """A confluent-kafka client's configuration, connecting as configured:
    ``Producer(client_config(bootstrap, acks="all"))``. Keyword names are
    librdkafka's with ``_`` for ``.`` (``client_id`` is ``client.id``)."""
    sec = security if security is not None else KafkaSecurity.from_env()
    options = {name.replace("_", "."): value for name, value in extra.items()}
    return {
        "bootstrap.servers": bootstrap,
        "logger": LIBRDKAFKA_LOG,
        **sec.librdkafka_config(),
        **options,
    }


def producer_config(
    bootstrap: str, security: KafkaSecurity | None = None, **extra: Any
) -> dict[str, Any]:
    """:func:`client_config` of a producer: keys placed by :data:`JAVA_PARTITIONER`,
    as every other writer of the project's topics places them."""
    return {**client_config(bootstrap, security, **extra), "partitioner": JAVA_PARTITIONER}


def production_mode(env: Mapping[str, str] | None = None) -> bool:
    return run_mode(env) is Mode.PRODUCTION
