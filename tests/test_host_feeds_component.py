"""``HostFeeds`` under strict mocks: certificates issued in the dynamic resource, secret keys,
user-data parts per host, the sensor's security-group rule, and nothing registered on bad input."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from cryptography import x509
from pulumi.runtime.sync_await import _sync_await

from components.cloud_config import written_files
from components.errors import CloudtapInputError
from components.host_feed import CERT_DIR, LISTENER_SETTINGS_PATH
from components.host_feeds import TYPE_TOKEN, HostFeeds, HostFeedsArgs
from tests.cloud_init import assert_valid_cloud_config
from tests.mocks import StrictMocks, run_program

ARGS: HostFeedsArgs = {
    "sensor_address": "10.0.128.10",
    "hosts": {
        "web-1": {"transport": "tls", "exclude_ports": [22]},
        "db-1": {"transport": "vxlan", "management_cidrs": ["10.0.192.0/20"]},
    },
    "host_cidrs": ["198.51.100.0/24"],
    "sensor_security_group_id": "sg-0123456789abcdef0",
}


def test_tls_hosts_get_certificates_of_one_ca_and_the_sensor_a_rule(mocks: StrictMocks) -> None:
    run = run_program(lambda: HostFeeds("feeds", ARGS), mocks)
    feeds = run.result
    parts = run.resolve(feeds.user_data_parts)
    assert set(parts) == {"web-1", "db-1"}
    for text in parts.values():
        assert_valid_cloud_config(text)
    web = written_files(parts["web-1"])
    ca = x509.load_pem_x509_certificate(web[f"{CERT_DIR}/ca.pem"].content.encode())
    host = x509.load_pem_x509_certificate(web[f"{CERT_DIR}/host.pem"].content.encode())
    assert host.issuer == ca.subject
    assert "web-1" in host.subject.rfc4514_string()
    assert f"{CERT_DIR}/ca.pem" not in written_files(parts["db-1"])  # vxlan: no certificates
    listener = {entry.path: entry for entry in run.resolve(feeds.listener_files)}
    assert 'ALLOW="198.51.100.0/24"' in listener[LISTENER_SETTINGS_PATH].content
    rules = run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert [(r.name, r.inputs["cidrIpv4"], r.inputs["fromPort"]) for r in rules] == [
        ("feeds-listener-1", "198.51.100.0/24", 3005)
    ]
    assert feeds.firewall_rule == (
        "TCP 3005 (cloudtap host feeds, mutual TLS) from 198.51.100.0/24 only"
    )


def test_keys_are_secret_outputs_of_the_dynamic_resource(mocks: StrictMocks) -> None:
    run = run_program(lambda: HostFeeds("feeds", ARGS), mocks)
    (credentials,) = run.of_type("pulumi-python:dynamic:Resource")
    assert credentials.name == "feeds-credentials"
    assert credentials.inputs["hosts"] == ["web-1"]
    assert credentials.inputs["sensor_names"] == ["10.0.128.10"]
    assert credentials.state["host_keys"]["web-1"].startswith("-----BEGIN PRIVATE KEY-----")
    feeds = run.result
    assert pulumi_is_secret(feeds.user_data_parts)
    assert pulumi_is_secret(feeds.listener_files)


def pulumi_is_secret(output: Any) -> bool:
    return bool(_sync_await(output.is_secret()))


def test_vxlan_only_feeds_need_no_certificates_and_no_host_networks(mocks: StrictMocks) -> None:
    args: HostFeedsArgs = {"sensor_address": "10.0.128.10", "hosts": {"db-1": {}}}
    run = run_program(lambda: HostFeeds("feeds", args), mocks)
    assert not run.of_type("pulumi-python:dynamic:Resource")
    assert run.result.listener_files is None
    part = run.resolve(run.result.user_data_parts)["db-1"]
    assert yaml.safe_load(part)["packages"] == ["nftables"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"host_cidrs": ["0.0.0.0/0"]}, "host_cidrs[0]"),
        ({"host_cidrs": []}, "host_cidrs"),
        ({"hosts": {}}, "hosts"),
        ({"hosts": {"bad name": {}}}, "name"),
        ({"hosts": {"web-1": {"transport": "tls", "port": 443}}}, "hosts.web-1.port"),
        ({"hosts": {"web-1": {"sensor_address": "10.0.128.11"}}}, "hosts.web-1.sensor_address"),
        ({"hosts": {"web-1": {"exclude_ports": ["$(id)"]}}}, "hosts.web-1.exclude_ports[0]"),
        ({"sensor_names": ["sensor internal"]}, "sensor_names[0]"),
        ({"port": 70000}, "port"),
        ({"sensors": []}, "sensors"),
    ],
)
def test_bad_input_fails_before_anything_is_registered(
    mocks: StrictMocks, change: dict[str, Any], field: str
) -> None:
    args = {**ARGS, **change}
    with pytest.raises(CloudtapInputError) as raised:
        run_program(lambda: HostFeeds("feeds", args), mocks)  # type: ignore[arg-type]
    assert field in raised.value.field, raised.value
    assert not [r for r in mocks.registrations if r.type != TYPE_TOKEN]
    assert not mocks.registrations
