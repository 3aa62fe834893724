"""The certificate of a ``kubernetes.io/tls`` Secret as the ingress evidence
reads it: valid from and until when, the host names it covers, whether the
Secret's key belongs to it. Never logs or keeps the key."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

TLS_SECRET_TYPE = "kubernetes.io/tls"


@dataclass(frozen=True)
class Certificate:
    """The leaf certificate of a TLS Secret. ``key_matches`` is None when the
    Secret holds no key."""

    subject: str
    dns_names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    key_matches: bool | None

    def covers(self, host: str) -> bool:
        return any(host_matches(name, host) for name in self.dns_names)

    def problem(self, hosts: Iterable[str], now: datetime) -> str | None:
        """Why this certificate cannot serve ``hosts`` at ``now`` (None: it can)."""
        if now >= self.not_after:
            return f"expired {self.not_after:%Y-%m-%d %H:%M} UTC"
        if now < self.not_before:
            return f"not valid before {self.not_before:%Y-%m-%d %H:%M} UTC"
        if self.key_matches is False:
            return "its key does not belong to the certificate"
        uncovered = [host for host in hosts if not self.covers(host)]
        if uncovered:
            names = ", ".join(self.dns_names) or "no DNS names"
            return f"does not cover {', '.join(uncovered)} (it names {names})"
        return None


def host_matches(pattern: str, host: str) -> bool:
    """Whether a certificate name (``*.example.com`` matches exactly one
    leftmost label) covers ``host``; case-insensitive."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if not pattern.startswith("*."):
        return pattern == host
    first, _, rest = host.partition(".")
    return bool(first) and rest == pattern[2:]


def read_tls_secret(secret: Mapping[str, Any]) -> Certificate:
    """The certificate of a TLS Secret (as the API returns it). Raises
    ValueError with a sentence saying what is wrong with the Secret."""
    data = secret.get("data") or {}
    if "tls.crt" not in data:
        raise ValueError("holds no tls.crt")
    pem = _decoded(data["tls.crt"])
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ValueError("its tls.crt is not a PEM certificate") from None
    leaf = chain[0]
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns_names = tuple(names.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns_names = ()
    return Certificate(
        subject=leaf.subject.rfc4514_string(),
        dns_names=dns_names,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        key_matches=_key_matches(leaf, data.get("tls.key")),
    )


def _key_matches(certificate: x509.Certificate, encoded_key: Any) -> bool | None:
    if not encoded_key:
        return None
    try:
        key = serialization.load_pem_private_key(_decoded(encoded_key), password=None)
    except (ValueError, TypeError):
        return False
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return bool(
        key.public_key().public_bytes(der, spki) == certificate.public_key().public_bytes(der, spki)
    )


def _decoded(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("holds a value that is not base64") from None
