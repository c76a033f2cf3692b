"""The host feeds' certificates: a CA per stack, one sensor certificate, one per host.

Pure functions over the ``cryptography`` package (no Pulumi): :mod:`components.host_feed_pki`
calls them once, inside a dynamic resource, so keys are made once and then kept in the stack's
state as secrets. ECDSA P-256 keys: small certificates, fast handshakes on the hosts.

Each certificate says what it is for (extended key usage), so a host's certificate cannot serve
as the sensor's (the host checks ``serverAuth`` and the sensor's name or address) and the
sensor's cannot feed as a host (the listener's TLS stack checks ``clientAuth``).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 3650
"""Ten years: the certificates live as long as the stack; replacing the resource re-issues."""


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: str
    """PEM ``CERTIFICATE``."""
    private_key: str
    """PEM ``PRIVATE KEY`` (PKCS #8, unencrypted: it is kept as a Pulumi secret)."""


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cloudtap"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> datetime.datetime:
    # An hour back: a host whose clock runs a little behind still accepts a fresh certificate.
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)


def issue_ca(stack_name: str) -> IssuedCertificate:
    """A self-signed CA for one stack's host feeds; it signs nothing but them."""
    key = _key()
    name = _name(f"cloudtap host feeds CA ({stack_name})")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
    return IssuedCertificate(
        certificate.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)
    )


def _alt_names(names: tuple[str, ...]) -> list[x509.GeneralName]:
    alt: list[x509.GeneralName] = []
    for text in names:
        try:
            alt.append(x509.IPAddress(ipaddress.IPv4Address(text)))
        except ValueError:
            alt.append(x509.DNSName(text))
    return alt


def issue_leaf(
    ca: IssuedCertificate, common_name: str, *, server: bool, names: tuple[str, ...] = ()
) -> IssuedCertificate:
    """A certificate signed by ``ca``: the sensor's (``server``, carrying ``names``: its DNS
    names and addresses) or a host's (a client, named ``common_name``)."""
    ca_certificate = x509.load_pem_x509_certificate(ca.certificate.encode())
    ca_key = serialization.load_pem_private_key(ca.private_key.encode(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the host feeds CA key is not an ECDSA key")
    key = _key()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    alt = _alt_names(names or (common_name,))
    builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    certificate = builder.sign(ca_key, hashes.SHA256())
    return IssuedCertificate(
        certificate.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)
    )
