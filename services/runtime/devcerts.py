"""``python -m claimscrub.runtime.devcerts DIR`` (``make certs``): throwaway
certificates and passwords for local and test use, never for real PHI.

Writes into DIR (default ``.run/certs``, ignored by git), only what is missing
unless ``--force``:

- ``ca.pem`` / ``ca-key.pem``: a new CA, valid 30 days;
- ``broker.pem`` / ``broker-key.pem`` and ``broker-keystore.pem`` (key then
  chain, the PEM keystore Kafka reads since 2.7, KIP-651): the broker's
  certificate, CN=broker, for 127.0.0.1, localhost and kafka (docker-compose);
- ``<principal>.pem`` / ``<principal>-key.pem`` for every principal of the ACL
  table (runtime/data/kafka_acls.json) and of the gRPC policy
  (runtime/data/grpc_policy.json): CN=<principal> and the URI SAN
  spiffe://claimscrub/<principal> (the caller's identity on gRPC), usable as a
  TLS server certificate (the service's gRPC port, 127.0.0.1/localhost/<name>)
  and as a client certificate (Kafka SSL, gRPC mTLS);
- ``<principal>.password``: a random SCRAM password per principal;
- ``hmac.key``: a random pseudonym key (CLAIMSCRUB_HMAC_KEY_FILE), so the
  secured local stack can run in production mode.

Private keys and passwords are written mode 0600. Uses the ``cryptography``
package (a development dependency; the services never import this module).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from claimscrub.runtime.acls import principals
from claimscrub.runtime.grpc_access import load_policy

DEFAULT_DIR = Path(".run/certs")
CA_NAME = "claimscrub throwaway development CA"
VALID_DAYS = 30
HOSTS = ("localhost",)
ADDRESSES = ("127.0.0.1", "::1")
TRUST_DOMAIN = "claimscrub"


def _write(path: Path, data: bytes, *, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if private:
        # Created 0600 from the start, never world-readable for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(path, 0o600)
    else:
        path.write_bytes(data)


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    # Unencrypted PKCS#8: what grpc, Python's ssl and Kafka's PEM keystore all read.
    out: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return out


def _pem_cert(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    out: bytes = cert.public_bytes(serialization.Encoding.PEM)
    return out


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "claimscrub development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(common_name: str = CA_NAME) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


#: Names a certificate answers to besides its CN: the broker is `kafka` in docker-compose.
ALIASES = {"broker": ("kafka",)}


def all_principals() -> list[str]:
    """The Kafka ACL table's principals, then the gRPC-only callers of the policy."""
    kafka = principals()
    return [*kafka, *sorted(load_policy().principals() - set(kafka))]


def issue(ca_key: Any, ca_cert: Any, common_name: str) -> tuple[Any, Any]:
    """A leaf certificate for ``common_name`` usable as TLS server and client."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = _key()
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(common_name)]
    names += [x509.DNSName(a) for a in ALIASES.get(common_name, ())]
    names += [x509.DNSName(h) for h in HOSTS if h != common_name]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ADDRESSES]
    if common_name != "broker":
        names.append(x509.UniformResourceIdentifier(f"spiffe://{TRUST_DOMAIN}/{common_name}"))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def generate(
    directory: Path,
    *,
    force: bool = False,
    names: list[str] | None = None,
    ca_name: str = CA_NAME,
) -> list[Path]:
    """Write what is missing (everything with ``force``); returns the files written."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    written: list[Path] = []
    ca_pem, ca_key_pem = directory / "ca.pem", directory / "ca-key.pem"
    if force or not (ca_pem.is_file() and ca_key_pem.is_file()):
        ca_key, ca_cert = make_ca(ca_name)
        _write(ca_key_pem, _pem_key(ca_key), private=True)
        _write(ca_pem, _pem_cert(ca_cert), private=False)
        written += [ca_pem, ca_key_pem]
        force = True  # every certificate must chain to the new CA
    else:
        ca_cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_pem.read_bytes(), password=None)
    wanted = ["broker", *(names if names is not None else all_principals())]
    for name in dict.fromkeys(wanted):
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
        if force or not (cert_path.is_file() and key_path.is_file()):
            key, cert = issue(ca_key, ca_cert, name)
            _write(key_path, _pem_key(key), private=True)
            _write(cert_path, _pem_cert(cert) + _pem_cert(ca_cert), private=False)
            written += [cert_path, key_path]
            if name == "broker":
                keystore = directory / "broker-keystore.pem"
                _write(keystore, _pem_key(key) + _pem_cert(cert) + _pem_cert(ca_cert), private=True)
                written.append(keystore)
        if name == "broker":
            continue
        password = directory / f"{name}.password"
        if force or not password.is_file():
            # URL-safe characters: no quoting trouble in Kafka's --add-scram syntax.
            _write(password, secrets.token_urlsafe(24).encode(), private=True)
            written.append(password)
    hmac = directory / "hmac.key"
    if force or not hmac.is_file():
        _write(hmac, secrets.token_urlsafe(48).encode(), private=True)
        written.append(hmac)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m claimscrub.runtime.devcerts")
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--force", action="store_true", help="replace every file, with a new CA")
    parser.add_argument("--ca-name", default=CA_NAME, help="the new CA's common name")
    args = parser.parse_args(argv)
    written = generate(args.directory, force=args.force, ca_name=args.ca_name)
    where = args.directory
    if written:
        print(f"certs: wrote {len(written)} files to {where} (throwaway: local and test use only)")
    else:
        print(f"certs: all present in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
