"""Mirror sessions with ``host_feed``: the sources decided ``host`` get their feed (a
``HostFeeds`` child, the preview's switch-off line) and, on AWS, an existing instance's
``vxlan`` feed is installed through an SSM document and an association targeting it alone."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.aws.host_feed_install import FILES_SHA256_PARAMETER
from components.cloud_config import written_files
from components.errors import CloudtapInputError
from components.host_feed import (
    CERT_DIR,
    KEY_DROP_IN_PATH,
    SETTINGS_PATH,
    host_feed_files,
    plan_host_feed,
)
from components.mirror_plan import HOST_FEED_SWITCH
from components.shapes import is_shell_safe_file
from tests.cloud_init import assert_valid_cloud_config
from tests.fakes.aws import LEGACY, WEB, FakeAws, mirror
from tests.mocks import ProgramRun, Registration, StrictMocks, run_program
from tests.test_mirror_session import SESSION, capture_info, of
from tests.test_openstack_monitored_network import cloud_with  # noqa: F401 - its fixture

DOCUMENT = "aws:ssm/document:Document"
ASSOCIATION = "aws:ssm/association:Association"
FEEDS = "cloudtap:HostFeeds"
SG_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def installs(run: ProgramRun[Any], type_token: str) -> list[Registration]:
    """The host feed's SSM resources (the network and the sensor have their own)."""
    return [r for r in run.of_type(type_token) if "-hostfeed" in r.name]


def public_legacy(fake_aws: FakeAws) -> str:
    """A t2 (AWS cannot mirror it) in the public tier (no gateway forwards its traffic)."""
    instance_id, _ = fake_aws.instance("t2.micro", subnet="10.0.0.0/20")
    return instance_id


def test_auto_feeds_a_source_nothing_else_reaches_and_installs_it_through_ssm(
    mocks: StrictMocks, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    legacy = public_legacy(fake_aws)
    lines = capture_info(monkeypatch)
    run = mirror(
        mocks,
        {
            "target": {"sensor": True},
            "sources": [WEB, {"instance_id": legacy}],
            "host_feed": {"host": {"exclude_ports": [22]}},
        },
        network={"gateway_mirror": {}},
        sensor={},
        clients=fake_aws.clients,
    )
    session = run.result
    assert session.native_sources == ["web"]
    assert session.host_sources == [legacy]
    assert {r.name for r in of(run, SESSION)} == {"mirror-web-1", "mirror-web-2"}
    host_line = next(line for line in lines if line.startswith(legacy))
    assert "host feed" in host_line and "no gateway forwards its traffic" in host_line
    assert HOST_FEED_SWITCH in host_line
    (feeds,) = run.of_type(FEEDS)
    assert feeds.name == "mirror-host-feeds"
    part = run.resolve(session.host_feeds.user_data_parts)[legacy]  # type: ignore[union-attr]
    assert_valid_cloud_config(part)
    settings = written_files(part)[SETTINGS_PATH].content
    assert 'SENSOR_ADDRESS="10.0.128.10"' in settings  # the target sensor's address
    assert 'EXCLUDE_PORTS="22"' in settings

    (document,) = installs(run, DOCUMENT)
    (association,) = installs(run, ASSOCIATION)
    assert document.name == f"mirror-{legacy}-hostfeed"
    assert document.inputs["name"] == f"cloudtap-cloudtap-test-mirror-{legacy}-hostfeed"
    assert association.inputs["targets"] == [{"key": "InstanceIds", "values": [legacy]}]
    assert association.inputs["name"] == document.inputs["name"]
    content = json.loads(document.inputs["content"])
    digest = association.inputs["parameters"][FILES_SHA256_PARAMETER]
    assert len(digest) == 64 and digest in content["parameters"][FILES_SHA256_PARAMETER][
        "allowedPattern"
    ].replace("^[0-9a-f]{64}$", digest)
    commands = content["mainSteps"][0]["inputs"]["runCommand"]
    assert commands[-1] == "systemctl restart cloudtap-hostfeed.service"
    assert session.host_feed_installs.keys() == {legacy}


def test_the_install_document_writes_the_feeds_files_byte_for_byte(
    mocks: StrictMocks, fake_aws: FakeAws, tmp_path: Path
) -> None:
    legacy = public_legacy(fake_aws)
    run = mirror(
        mocks,
        {
            "target": {"sensor": True},
            "sources": [{"instance_id": legacy}],
            "method": "host",
            "host_feed": {},
        },
        network={},
        sensor={},
        clients=fake_aws.clients,
    )
    (document,) = installs(run, DOCUMENT)
    commands = json.loads(document.inputs["content"])["mainSteps"][0]["inputs"]["runCommand"]
    expected = host_feed_files(plan_host_feed(legacy, {"sensor_address": "10.0.128.10"}))
    writes = [c for c in commands if c.startswith("cloudtap_write ")]
    assert [w.split()[1] for w in writes] == [f.path for f in expected]
    # Run the document's own writer, with every path moved under tmp_path.
    script = "\n".join(
        [commands[0], commands[1], *(w.replace(" /", f" {tmp_path}/", 1) for w in writes)]
    )
    for entry in expected:
        (tmp_path / entry.path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["bash", "-c", script], check=True)
    for entry in expected:
        written = tmp_path / entry.path.lstrip("/")
        assert written.read_bytes() == entry.data(), entry.path
        assert oct(written.stat().st_mode & 0o777) == oct(int(entry.permissions, 8))


def test_tls_host_feeds_name_the_sensors_rule_and_are_not_put_in_a_document(
    mocks: StrictMocks, fake_aws: FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    legacy = public_legacy(fake_aws)
    with caplog.at_level(logging.WARNING):
        run = mirror(
            mocks,
            {
                "target": {"sensor": True},
                "sources": [{"instance_id": legacy}],
                "method": "host",
                "host_feed": {"host": {"transport": "tls"}, "host_cidrs": ["10.0.0.0/20"]},
            },
            network={},
            sensor={},
            clients=fake_aws.clients,
        )
    assert not installs(run, DOCUMENT) and not installs(run, ASSOCIATION)
    assert "a tls host feed is not installed through SSM" in caplog.text
    # The cloudtap Sensor's group has inline rules: a separate one would be undone by it.
    assert not run.of_type(SG_RULE)
    assert "the sensor's firewall must admit TCP 3005" in caplog.text
    assert "from 10.0.0.0/20 only" in caplog.text
    assert run.result.host_feeds is not None
    assert run.resolve(run.result.host_feeds.listener_files)


def test_a_tls_feed_whose_key_is_in_a_securestring_is_installed_without_it(
    mocks: StrictMocks, fake_aws: FakeAws
) -> None:
    legacy = public_legacy(fake_aws)
    run = mirror(
        mocks,
        {
            "target": {"sensor": True},
            "sources": [{"instance_id": legacy}],
            "method": "host",
            "host_feed": {
                "host": {"transport": "tls"},
                "host_cidrs": ["10.0.0.0/20"],
                "aws_host_roles": {legacy: "legacy-role"},
            },
        },
        network={},
        sensor={},
        clients=fake_aws.clients,
    )
    parameter = f"/cloudtap/cloudtap/test/mirror-host-feeds/{legacy}/hostfeed-key"
    (secure,) = [p for p in run.of_type("aws:ssm/parameter:Parameter") if "-key" in p.name]
    assert (secure.inputs["name"], secure.inputs["type"]) == (parameter, "SecureString")
    (document,) = installs(run, DOCUMENT)
    commands = json.loads(document.inputs["content"])["mainSteps"][0]["inputs"]["runCommand"]
    written = [c.split()[1] for c in commands if c.startswith("cloudtap_write ")]
    assert f"{CERT_DIR}/host.pem" in written and KEY_DROP_IN_PATH in written
    assert f"{CERT_DIR}/host.key" not in written
    (credentials,) = run.of_type("pulumi-python:dynamic:Resource")
    key_body = credentials.state["host_keys"][legacy].splitlines()[1]
    assert key_body not in document.inputs["content"]
    (association,) = installs(run, ASSOCIATION)
    assert association.inputs["targets"] == [{"key": "InstanceIds", "values": [legacy]}]


def test_a_security_group_given_gets_the_listeners_rule(mocks: StrictMocks) -> None:
    group = "sg-0123456789abcdef0"
    run = mirror(
        mocks,
        {
            "target": {"network_interface_id": "eni-0ffffffffffffffff"},
            "sources": [LEGACY],
            "method": "host",
            "host_feed": {
                "sensor_address": "10.0.128.10",
                "host": {"transport": "tls"},
                "host_cidrs": ["198.51.100.0/24"],
                "sensor_security_group_id": group,
            },
        },
    )
    (rule,) = run.of_type(SG_RULE)
    assert rule.inputs["securityGroupId"] == group
    assert (rule.inputs["cidrIpv4"], rule.inputs["fromPort"]) == ("198.51.100.0/24", 3005)


def test_interfaces_given_by_id_get_their_part_only(mocks: StrictMocks) -> None:
    run = mirror(
        mocks,
        {"target": {"sensor": True}, "sources": [LEGACY], "method": "host", "host_feed": {}},
        sensor={},
    )
    assert run.result.host_sources == ["legacy"]
    assert not installs(run, DOCUMENT)
    assert "legacy" in run.resolve(run.result.host_feeds.user_data_parts)  # type: ignore[union-attr]


def test_without_host_feed_auto_keeps_the_gateway_and_host_is_refused(mocks: StrictMocks) -> None:
    run = mirror(
        mocks,
        {"target": {"sensor": True}, "sources": [LEGACY]},
        network={"gateway_mirror": {}},
        sensor={},
    )
    assert run.result.gateway_sources == ["legacy"] and run.result.host_feeds is None
    assert not run.of_type(FEEDS)
    with pytest.raises(CloudtapInputError) as raised:
        mirror(
            mocks, {"target": {"sensor": True}, "sources": [LEGACY], "method": "host"}, sensor={}
        )
    assert raised.value.field == "method"
    assert "set host_feed" in raised.value.expected


@pytest.mark.parametrize(
    ("host_feed", "target", "field"),
    [
        (
            {"host": {"exclude_ports": ["$(id)"]}},
            {"sensor": True},
            "host_feed.host.exclude_ports[0]",
        ),
        ({"host": {"transport": "tls"}}, {"sensor": True}, "host_feed.host_cidrs"),
        (
            {"host_cidrs": ["0.0.0.0/0"], "host": {"transport": "tls"}},
            {"sensor": True},
            "host_feed.host_cidrs[0]",
        ),
        ({"hosts": {}}, {"sensor": True}, "host_feed.hosts"),
        (
            {"host": {"sensor_address": "10.0.128.11"}},
            {"sensor": True},
            "host_feed.host.sensor_address",
        ),
        ({}, {"network_interface_id": "eni-0ffffffffffffffff"}, "host_feed.sensor_address"),
        ("yes", {"sensor": True}, "host_feed"),
    ],
)
def test_bad_host_feed_settings_fail_before_anything_is_registered(
    mocks: StrictMocks, host_feed: Any, target: dict[str, Any], field: str
) -> None:
    with pytest.raises(CloudtapInputError) as raised:
        mirror(
            mocks,
            {"target": target, "sources": [LEGACY], "method": "host", "host_feed": host_feed},
            sensor={} if target == {"sensor": True} else None,
        )
    assert raised.value.field == field, raised.value
    assert not [r for r in mocks.registrations if r.name.startswith("mirror")]


# -- Azure and OpenStack: the parts as outputs, the sensor's firewall rule in words -------------


def test_azure_auto_feeds_a_source_no_tap_copies_and_no_gateway_sees(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.test_azure_network_mirror import DB, run  # noqa: PLC0415 - loads azure-native

    with caplog.at_level(logging.WARNING):
        result = run(
            "westeurope",
            {},  # no gateway mirror
            {
                "sources": [{**DB, "vm_size": "Standard_E4s_v6"}],  # a size no TAP copies
                "host_feed": {"host": {"transport": "tls"}, "host_cidrs": ["10.0.64.0/20"]},
            },
        )
    session = result.result
    assert [d.method.value for d in session.decisions] == ["host"]
    assert session.host_sources == ["db"] and session.native_sources == []
    assert not result.of_type("azure-native:network:VirtualNetworkTap")
    part = result.resolve(session.host_feeds.user_data_parts)["db"]
    assert_valid_cloud_config(part)
    assert "TCP 3005 (cloudtap host feeds, mutual TLS) from 10.0.64.0/20 only" in caplog.text
    assert not result.of_type(SG_RULE)


def test_azure_refuses_an_aws_security_group_and_host_feed_without_network() -> None:
    from tests.test_azure_network_mirror import DB, run  # noqa: PLC0415

    with pytest.raises(CloudtapInputError) as raised:
        run(
            "westeurope",
            {},
            {
                "sources": [DB],
                "method": "host",
                "host_feed": {"sensor_security_group_id": "sg-0123456789abcdef0"},
            },
        )
    assert raised.value.field == "host_feed.sensor_security_group_id"
    with pytest.raises(CloudtapInputError) as raised:
        run(
            "westeurope",
            {},
            {"sources": [DB], "method": "host", "host_feed": {"aws_host_roles": {"db": "r"}}},
        )
    assert raised.value.field == "host_feed.aws_host_roles"
    from components.azure.mirror_session import plan_mirror_session  # noqa: PLC0415

    with pytest.raises(CloudtapInputError) as raised:
        plan_mirror_session(
            {
                "target": {"network_interface_ip_configuration_id": "x"},
                "sources": [DB],
                "location": "westeurope",
                "host_feed": {},
            }
        )
    assert raised.value.field == "host_feed"
    assert "without network" in raised.value.expected


def test_openstack_auto_without_taas_or_gateway_mirror_feeds_every_source(
    cloud_with: Any,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.test_openstack_monitored_network import dev_stack, run_main  # noqa: PLC0415

    cloud_with(extensions=("port-security",))
    config = dev_stack()
    del config["cloudtap:network"]["gateway_mirror"]
    config["cloudtap:mirror"]["host_feed"] = {"host": {"management_cidrs": ["192.168.5.0/24"]}}
    lines = capture_info(monkeypatch)
    result = run_main(config)
    assert not [r for r in result.resources if "taas" in r.type.lower()]
    (feeds,) = result.of_type(FEEDS)
    assert feeds.name == "cloudtap-mirror-host-feeds"
    assert lines[-1].startswith("rdp-server (Neutron port): host feed — the cloud's Neutron has")
    assert "no gateway forwards its traffic" in lines[-1] and HOST_FEED_SWITCH in lines[-1]
    assert result.exports["mirror_native_sources"] == []
    assert result.exports["mirror_gateway_sources"] == []


def test_openstack_method_host_needs_no_network_and_no_extension_lookup() -> None:
    from components.openstack.mirror_session import MirrorSession  # noqa: PLC0415
    from tests.fakes.openstack import openstack_mocks  # noqa: PLC0415

    port = "5b0d3c1e-7a2f-4c8e-9d61-2f4a8b7c6e01"
    result = run_program(
        lambda: MirrorSession(
            "mirror",
            {
                "target": {"sensor_ip": "203.0.113.10"},
                "sources": [{"name": "app", "port_id": port}],
                "method": "host",
                "host_feed": {"host": {"transport": "tls"}, "host_cidrs": ["198.51.100.0/24"]},
            },
        ),
        openstack_mocks(),
    )
    assert result.result.host_feeds is not None
    part = result.resolve(result.result.host_feeds.user_data_parts)["app"]
    assert 'SENSOR_ADDRESS="203.0.113.10"' in written_files(part)[SETTINGS_PATH].content
    assert result.result.sessions == {}


@pytest.mark.parametrize(
    ("path", "mode", "data"),
    [
        ("/etc/../root/x", "0644", "AAAA"),
        ("/etc/cloudtap/a b", "0644", "AAAA"),
        ("etc/cloudtap/x", "0644", "AAAA"),
        ("/etc/cloudtap/x", "644", "AAAA"),
        ("/etc/cloudtap/x", "0644", "AAAA'; reboot; '"),
        ("/etc/cloudtap/x\n", "0644", "AAAA"),
    ],
)
def test_the_install_writes_only_plain_paths_modes_and_base64(
    path: str, mode: str, data: str
) -> None:
    assert not is_shell_safe_file(path, mode, data)
    assert is_shell_safe_file("/etc/cloudtap/hostfeed.conf", "0600", "H4sIAAAA+/=")
