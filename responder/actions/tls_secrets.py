"""Whether a TLS Secret can serve a host: its type, a certificate that parses,
a key that belongs to it, a validity window that holds now and names that
cover the host. The answers never carry the Secret's values."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

TLS_SECRET_TYPE = "kubernetes.io/tls"


@dataclass(frozen=True)
class TlsCertificate:
    """The leaf certificate of a TLS Secret: its DNS names and validity."""

    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime


def usable_certificate(
    secret: Mapping[str, Any], where: str, hosts: Iterable[str], now: datetime
) -> TlsCertificate:
    """The certificate of ``secret`` (named ``where`` in messages) when it can
    serve every one of ``hosts`` at ``now``; ValueError saying why not."""
    certificate = read_certificate(secret, where)
    if now < certificate.not_before:
        raise ValueError(
            f"the certificate in {where} is not valid before {_day(certificate.not_before)}"
        )
    if now >= certificate.not_after:
        raise ValueError(f"the certificate in {where} expired on {_day(certificate.not_after)}")
    uncovered = [host for host in hosts if not covers(certificate.names, host)]
    if uncovered:
        named = ", ".join(certificate.names) or "no DNS name"
        raise ValueError(
            f"the certificate in {where} does not cover {', '.join(uncovered)} (it names {named})"
        )
    return certificate


def read_certificate(secret: Mapping[str, Any], where: str) -> TlsCertificate:
    """The leaf certificate of a ``kubernetes.io/tls`` Secret, checked against
    its private key; ValueError naming what is wrong."""
    kind = secret.get("type") or "Opaque"
    if kind != TLS_SECRET_TYPE:
        raise ValueError(f"{where} is of type {kind}, not {TLS_SECRET_TYPE}")
    data = secret.get("data") or {}
    pem_certificate, pem_key = _decoded(data, "tls.crt", where), _decoded(data, "tls.key", where)
    try:
        leaf = x509.load_pem_x509_certificates(pem_certificate)[0]
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"{where}: tls.crt is not a PEM certificate ({exc})") from exc
    try:
        key = serialization.load_pem_private_key(pem_key, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"{where}: tls.key is not an unencrypted PEM private key") from exc
    if _public(key.public_key()) != _public(leaf.public_key()):
        raise ValueError(f"{where}: tls.key does not belong to the certificate in tls.crt")
    try:
        alternative = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = tuple(alternative.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()  # clients ignore the subject's CN: such a certificate covers no host
    return TlsCertificate(names, leaf.not_valid_before_utc, leaf.not_valid_after_utc)


def covers(names: Iterable[str], host: str) -> bool:
    """Whether a certificate naming ``names`` serves ``host``; a wildcard
    covers exactly one leftmost label (``*.a.example`` covers ``b.a.example``,
    not ``a.example`` nor ``c.b.a.example``)."""
    host = host.lower().rstrip(".")
    for name in (n.lower().rstrip(".") for n in names):
        if name == host:
            return True
        if name.startswith("*.") and "." in host:
            label, _, rest = host.partition(".")
            if label and label != "*" and rest == name[2:]:
                return True
    return False


def _decoded(data: Mapping[str, Any], key: str, where: str) -> bytes:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where} has no {key}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{where}: {key} is not base64") from exc


def _public(key: Any) -> bytes:
    encoded: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return encoded


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
