"""The stack's host-feed certificates as a Pulumi dynamic resource (keys made once, kept secret).

Why ``cryptography`` in a dynamic resource rather than pulumi-tls: the keys are generated
inside ``create`` (on the machine running ``pulumi up``), stored in the stack's state as secret
outputs and never change on later runs; adding a host issues only that host's certificate
(``update``), leaving the CA, the sensor's and every other host's as they were. pulumi-tls would
give the same (``tls.PrivateKey``, ``tls.LocallySignedCert``) but needs its provider plugin,
which this project's machines cannot install, so it could only ever be tested under mocks;
``cryptography`` is a plain Python dependency, already what the SDK installs beside it, and the
issuance is tested for real (:mod:`components.host_feed_certs`, real TLS handshakes, the lab).
The price: a dynamic resource runs only in a Python program (not when the component is hosted
for another language), and its provider code is serialised into the state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi.dynamic

from .host_feed_certs import IssuedCertificate, issue_ca, issue_leaf

SECRET_OUTPUTS = ("ca_key", "sensor_key", "host_keys")
"""Outputs kept encrypted in the state: every private key."""


def _issue_hosts(
    ca: IssuedCertificate, names: Sequence[str], have: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    certificates, keys = (
        dict(have.get("host_certificates") or {}),
        dict(have.get("host_keys") or {}),
    )
    for name in list(certificates):
        if name not in names:  # a host removed from the stack loses its certificate
            certificates.pop(name)
            keys.pop(name, None)
    for name in names:
        if name not in certificates:
            issued = issue_leaf(ca, name, server=False)
            certificates[name], keys[name] = issued.certificate, issued.private_key
    return certificates, keys


class HostFeedCredentialsProvider(pulumi.dynamic.ResourceProvider):
    """Issues the CA and the sensor's certificate at create, a host's when it is first named."""

    def create(self, props: Any) -> pulumi.dynamic.CreateResult:
        ca = issue_ca(str(props["stack"]))
        sensor = issue_leaf(ca, "sensor", server=True, names=tuple(props["sensor_names"]))
        certificates, keys = _issue_hosts(ca, list(props["hosts"]), {})
        outs = {
            **props,
            "ca_certificate": ca.certificate,
            "ca_key": ca.private_key,
            "sensor_certificate": sensor.certificate,
            "sensor_key": sensor.private_key,
            "host_certificates": certificates,
            "host_keys": keys,
        }
        return pulumi.dynamic.CreateResult(id_=f"cloudtap-hostfeed-{props['stack']}", outs=outs)

    def diff(self, _id: str, olds: Any, news: Any) -> pulumi.dynamic.DiffResult:
        replaces = [key for key in ("stack", "sensor_names") if olds.get(key) != news.get(key)]
        changed = bool(replaces) or list(olds.get("hosts", [])) != list(news["hosts"])
        return pulumi.dynamic.DiffResult(
            changes=changed, replaces=replaces, delete_before_replace=False
        )

    def update(self, _id: str, olds: Any, news: Any) -> pulumi.dynamic.UpdateResult:
        ca = IssuedCertificate(olds["ca_certificate"], olds["ca_key"])
        certificates, keys = _issue_hosts(ca, list(news["hosts"]), olds)
        outs = {**olds, **news, "host_certificates": certificates, "host_keys": keys}
        return pulumi.dynamic.UpdateResult(outs=outs)


class HostFeedCredentials(pulumi.dynamic.Resource):
    """A CA per stack, the sensor's certificate (its addresses and DNS names) and one client
    certificate per host name. A change of ``sensor_names`` re-issues everything."""

    ca_certificate: pulumi.Output[str]
    sensor_certificate: pulumi.Output[str]
    sensor_key: pulumi.Output[str]
    host_certificates: pulumi.Output[dict[str, str]]
    host_keys: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        *,
        stack: str,
        sensor_names: Sequence[str],
        hosts: Sequence[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "stack": stack,
            "sensor_names": list(sensor_names),
            "hosts": list(hosts),
            "ca_certificate": None,
            "ca_key": None,
            "sensor_certificate": None,
            "sensor_key": None,
            "host_certificates": None,
            "host_keys": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_OUTPUTS))
        super().__init__(
            HostFeedCredentialsProvider(),
            name,
            props,
            pulumi.ResourceOptions.merge(opts, secret),
        )
