"""TLS for gRPC: what a server serves and what a client presents, from environment.

Server (every service's gRPC port):

- ``CLAIMSCRUB_GRPC_TLS_CERT`` / ``CLAIMSCRUB_GRPC_TLS_KEY``: PEM certificate
  chain and private key; set both to serve TLS (unset: plaintext, local only).
- ``CLAIMSCRUB_GRPC_TLS_CA``: PEM bundle client certificates must chain to.
- ``CLAIMSCRUB_GRPC_REQUIRE_CLIENT_CERT``: ``true`` refuses any client that
  does not present a certificate from that CA (mTLS).

Client (a service calling another, the CLI):

- ``CLAIMSCRUB_GRPC_CLIENT_CERT`` / ``CLAIMSCRUB_GRPC_CLIENT_KEY``: the
  certificate to present; default: the service's own server certificate,
  since one certificate per service carries both the serverAuth and
  clientAuth usages (RFC 5280 §4.2.1.12), as cert-manager issues them.
- ``CLAIMSCRUB_GRPC_CLIENT_CA``: the CA servers must chain to; default
  ``CLAIMSCRUB_GRPC_TLS_CA``. TLS is on when either is set, or with
  ``CLAIMSCRUB_GRPC_CLIENT_TLS=true`` (system trust store).
- ``CLAIMSCRUB_GRPC_SERVER_NAME``: the name to verify in the server's
  certificate when the address is not in it (gRPC's ssl_target_name_override).

``CLAIMSCRUB_MODE=production`` refuses a plaintext server, a server that does
not require client certificates, and a plaintext or certificate-less client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

from claimscrub.runtime.env import SettingsError, env_bool
from claimscrub.runtime.secrets import Secret, require, run_mode


def _pem(env: Mapping[str, str], name: str) -> bytes | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        data = Path(raw).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SettingsError(f"{name} cannot be read ({reason}): {raw}") from None
    if b"-----BEGIN " not in data:
        raise SettingsError(f"{name} is not a PEM file: {raw}")
    return data


def _pair(env: Mapping[str, str], cert_name: str, key_name: str) -> tuple[bytes, Secret] | None:
    cert = _pem(env, cert_name)
    key = _pem(env, key_name)
    if (cert is None) != (key is None):
        raise SettingsError(f"set {cert_name} and {key_name} together")
    if cert is None or key is None:
        return None
    return cert, Secret(key)


@dataclass(frozen=True, slots=True)
class ServerTls:
    cert_chain: bytes
    key: Secret
    client_ca: bytes | None
    require_client_cert: bool

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key.reveal(), self.cert_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.require_client_cert,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerTls | None:
        """None for a plaintext server (refused in production)."""
        e = os.environ if env is None else env
        mode = run_mode(e)
        pair = _pair(e, "CLAIMSCRUB_GRPC_TLS_CERT", "CLAIMSCRUB_GRPC_TLS_KEY")
        ca = _pem(e, "CLAIMSCRUB_GRPC_TLS_CA")
        require_cert = env_bool(e, "CLAIMSCRUB_GRPC_REQUIRE_CLIENT_CERT", False)
        require(mode, pair is not None, "gRPC without TLS (set CLAIMSCRUB_GRPC_TLS_CERT/KEY)")
        require(
            mode,
            require_cert,
            "gRPC without client certificates (set CLAIMSCRUB_GRPC_REQUIRE_CLIENT_CERT=true)",
        )
        if pair is None:
            if require_cert:
                raise SettingsError(
                    "CLAIMSCRUB_GRPC_REQUIRE_CLIENT_CERT needs CLAIMSCRUB_GRPC_TLS_CERT/KEY"
                )
            return None
        if require_cert and ca is None:
            raise SettingsError("CLAIMSCRUB_GRPC_REQUIRE_CLIENT_CERT needs CLAIMSCRUB_GRPC_TLS_CA")
        return cls(pair[0], pair[1], ca, require_cert)


@dataclass(frozen=True, slots=True)
class ClientTls:
    root_ca: bytes | None
    cert_chain: bytes | None
    key: Secret | None
    server_name: str | None

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_ca,
            private_key=self.key.reveal() if self.key is not None else None,
            certificate_chain=self.cert_chain,
        )

    def options(self) -> list[tuple[str, str]]:
        if self.server_name:
            return [("grpc.ssl_target_name_override", self.server_name)]
        return []

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClientTls | None:
        """None for plaintext channels (refused in production)."""
        e = os.environ if env is None else env
        mode = run_mode(e)
        ca = _pem(e, "CLAIMSCRUB_GRPC_CLIENT_CA") or _pem(e, "CLAIMSCRUB_GRPC_TLS_CA")
        pair = _pair(e, "CLAIMSCRUB_GRPC_CLIENT_CERT", "CLAIMSCRUB_GRPC_CLIENT_KEY") or _pair(
            e, "CLAIMSCRUB_GRPC_TLS_CERT", "CLAIMSCRUB_GRPC_TLS_KEY"
        )
        use_tls = env_bool(e, "CLAIMSCRUB_GRPC_CLIENT_TLS", ca is not None)
        require(mode, use_tls, "plaintext gRPC client (set CLAIMSCRUB_GRPC_CLIENT_CA)")
        require(
            mode,
            pair is not None,
            "gRPC client without a certificate (set CLAIMSCRUB_GRPC_CLIENT_CERT/KEY)",
        )
        if not use_tls:
            return None
        server_name = e.get("CLAIMSCRUB_GRPC_SERVER_NAME", "").strip() or None
        if pair is None:
            return cls(ca, None, None, server_name)
        return cls(ca, pair[0], pair[1], server_name)
