"""Host feeds: planning, the rendered host part and listener, and the certificates."""

from __future__ import annotations

import ast
import dataclasses
import re
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import host_feed, sensor
from components.cloud_config import NET_LIBRARY_PATH, asset_text, written_files
from components.errors import CloudtapInputError
from components.host_feed import HostFeedTransport, plan_host_feed
from components.host_feed_certs import IssuedCertificate, issue_ca, issue_leaf
from tests.cloud_init import assert_valid_cloud_config
from tests.shell import assert_passes_shellcheck

SENSOR = "10.0.128.10"


@pytest.fixture(scope="module")
def ca() -> IssuedCertificate:
    return issue_ca("test")


@pytest.fixture(scope="module")
def credentials(ca: IssuedCertificate) -> host_feed.HostCredentials:
    host = issue_leaf(ca, "app-1", server=False)
    return host_feed.HostCredentials(ca.certificate, host.certificate, host.private_key)


def tls_plan(**more: Any) -> host_feed.HostFeedPlan:
    return plan_host_feed("app-1", {"transport": "tls", "sensor_address": SENSOR, **more})


# -- planning ----------------------------------------------------------------------------------


def test_defaults_per_transport() -> None:
    vxlan = plan_host_feed("app-1", {"sensor_address": SENSOR})
    assert (vxlan.transport, vxlan.port, vxlan.vni) == (HostFeedTransport.VXLAN, 4789, 4243)
    tls = tls_plan()
    assert (tls.port, tls.vni, tls.sensor_name, tls.queue_frames) == (3005, None, SENSOR, 4096)


def test_exclusions_merge_management_and_user_networks_and_ports() -> None:
    plan = plan_host_feed(
        "app-1",
        {
            "sensor_address": SENSOR,
            "management_cidrs": ["10.0.192.0/20"],
            "exclude_cidrs": ["192.168.0.0/16", "10.0.192.0/20"],
            "exclude_ports": [22, 873, 22],
        },
    )
    assert [str(n) for n in plan.excluded_networks] == ["10.0.192.0/20", "192.168.0.0/16"]
    assert plan.excluded_ports == (22, 873)
    settings = host_feed.render_settings(plan)
    assert 'EXCLUDE_CIDRS="10.0.192.0/20 192.168.0.0/16"' in settings
    assert 'EXCLUDE_PORTS="22 873"' in settings


BAD_ARGS = [
    ({"transport": "ssl"}, "transport"),
    ({}, "sensor_address"),
    ({"sensor_address": "10.0.128.10/32"}, "sensor_address"),
    ({"sensor_address": "10.0.128.10\n"}, "sensor_address"),
    ({"sensor_address": "52.1.2.3"}, "sensor_address"),  # unencrypted over the internet
    ({"sensor_name": "sensor.example"}, "sensor_name"),  # only with tls
    ({"transport": "tls", "sensor_name": "$(reboot)"}, "sensor_name"),
    ({"transport": "tls", "sensor_name": "a..b"}, "sensor_name"),
    ({"port": 0}, "port"),
    ({"port": "4789"}, "port"),
    ({"port": True}, "port"),
    ({"vni": 0}, "vni"),
    ({"vni": 16_777_216}, "vni"),
    ({"transport": "tls", "vni": 5}, "vni"),
    ({"interface": "eth0; reboot"}, "interface"),
    ({"interface": "a-very-long-interface"}, "interface"),
    ({"management_cidrs": "10.0.0.0/8"}, "management_cidrs"),
    ({"management_cidrs": ["10.0.0.1/8"]}, "management_cidrs[0]"),
    ({"exclude_cidrs": ["10.0.128.0/20"]}, "exclude_cidrs[0]"),  # holds the sensor
    ({"exclude_cidrs": [f"192.168.{i}.0/24" for i in range(65)]}, "exclude_cidrs"),
    ({"exclude_ports": [70000]}, "exclude_ports[0]"),
    ({"exclude_ports": ["22"]}, "exclude_ports[0]"),
    ({"queue_frames": 64}, "queue_frames"),  # only with tls
    ({"transport": "tls", "queue_frames": 8}, "queue_frames"),
    ({"sensor": SENSOR}, "sensor"),  # unknown field
]


@pytest.mark.parametrize(("args", "field"), BAD_ARGS)
def test_bad_fields_are_refused_by_name(args: dict[str, Any], field: str) -> None:
    full = {"sensor_address": SENSOR, **args} if "sensor_address" not in args else args
    if args == {}:
        full = {}
    with pytest.raises(CloudtapInputError) as raised:
        plan_host_feed("app-1", full, field="host_feeds[0]")
    assert raised.value.field.startswith(f"host_feeds[0].{field}"), raised.value


def test_bad_host_names_are_refused() -> None:
    for name in ("", "app 1", "app/1", "-app", "$(id)"):
        with pytest.raises(CloudtapInputError):
            plan_host_feed(name, {"sensor_address": SENSOR})


def test_listener_refuses_world_open_and_empty_host_networks() -> None:
    with pytest.raises(CloudtapInputError, match=r"host_feeds\.host_cidrs\[0\]"):
        host_feed.plan_listener(None, ["0.0.0.0/0"], "cloudtap0")
    with pytest.raises(CloudtapInputError, match=r"host_feeds\.host_cidrs"):
        host_feed.plan_listener(None, [], "cloudtap0")
    with pytest.raises(CloudtapInputError, match=r"host_feeds\.port"):
        host_feed.plan_listener(65536, ["10.1.0.0/24"], "cloudtap0")
    plan = host_feed.plan_listener(None, ["10.1.0.0/24"], "cloudtap0")
    assert host_feed.listener_rule_description(plan) == (
        "TCP 3005 (cloudtap host feeds, mutual TLS) from 10.1.0.0/24 only"
    )


def test_a_hand_made_plan_with_hostile_text_is_not_written() -> None:
    plan = dataclasses.replace(tls_plan(), sensor_name="x$(reboot)")
    with pytest.raises(ValueError, match="plan_host_feed would refuse"):
        host_feed.render_settings(plan)


# -- rendered files ----------------------------------------------------------------------------


def test_settings_keys_are_the_scripts() -> None:
    script = asset_text("hostfeed", "cloudtap-hostfeed.sh")
    match = re.search(r"^readonly SETTINGS_KEYS=\(([^)]*)\)", script, re.MULTILINE)
    assert match
    assert match.group(1).split() == list(host_feed.SETTINGS_KEYS)
    rendered = host_feed.render_settings(tls_plan())
    keys = [line.split("=")[0] for line in rendered.splitlines() if not line.startswith("#")]
    assert keys == list(host_feed.SETTINGS_KEYS)


def test_listener_keys_are_the_listeners() -> None:
    tree = ast.parse(asset_text("hostfeed", "cloudtap_hostfeed_listener.py"))
    keys = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "KEYS" for t in node.targets)
    )
    literal = ast.literal_eval(keys.args[0])  # type: ignore[attr-defined]
    assert set(literal) == set(host_feed.LISTENER_SETTINGS_KEYS)


@pytest.mark.parametrize("transport", ["vxlan", "tls"])
def test_host_part_passes_cloud_init_schema_and_merges(
    transport: str, credentials: host_feed.HostCredentials
) -> None:
    plan = plan_host_feed("app-1", {"transport": transport, "sensor_address": SENSOR})
    text = host_feed.render_cloud_config_part(plan, credentials)
    assert_valid_cloud_config(text)
    document = yaml.safe_load(text)
    assert {"name": "list", "settings": ["append"]} in document["merge_how"]
    assert ["systemctl", "enable", "--now", "cloudtap-hostfeed.service"] in document["runcmd"]
    files = written_files(text)
    expected = {host_feed.SETTINGS_PATH, host_feed.SCRIPT_PATH, host_feed.UNIT_PATH}
    expected.add(NET_LIBRARY_PATH)
    if transport == "tls":
        cert_dir = host_feed.CERT_DIR
        expected |= {host_feed.AGENT_PATH, host_feed.AGENT_UNIT_PATH}
        expected |= {f"{cert_dir}/ca.pem", f"{cert_dir}/host.pem", f"{cert_dir}/host.key"}
        assert files[f"{cert_dir}/host.key"].permissions == "0600"
    else:
        assert document["packages"] == ["nftables"]
    assert set(files) == expected


def test_tls_part_needs_its_credentials() -> None:
    with pytest.raises(ValueError, match="needs its credentials"):
        host_feed.render_cloud_config_part(tls_plan())


def test_only_pem_blocks_reach_the_host(credentials: host_feed.HostCredentials) -> None:
    hostile = dataclasses.replace(credentials, certificate="#!/bin/sh\nreboot\n")
    with pytest.raises(ValueError, match="PEM CERTIFICATE"):
        host_feed.render_cloud_config_part(tls_plan(), hostile)


def test_host_script_passes_shellcheck(tmp_path: Path) -> None:
    text = host_feed.render_cloud_config_part(plan_host_feed("h", {"sensor_address": SENSOR}))
    assert_passes_shellcheck(text, host_feed.SCRIPT_PATH, tmp_path)


def test_vxlan_table_never_copies_the_feed_or_the_exclusions(tmp_path: Path) -> None:
    plan = plan_host_feed(
        "app-1",
        {"sensor_address": SENSOR, "exclude_cidrs": ["192.168.0.0/16"], "exclude_ports": [22]},
    )
    files = written_files(host_feed.render_cloud_config_part(plan))
    for path in (host_feed.SCRIPT_PATH, host_feed.SETTINGS_PATH, NET_LIBRARY_PATH):
        (tmp_path / Path(path).name).write_text(files[path].content)
    result = subprocess.run(
        ["bash", str(tmp_path / "cloudtap-hostfeed"), "render", "--interface", "eth0"],
        env={
            "CLOUDTAP_HOSTFEED_CONF": str(tmp_path / "hostfeed.conf"),
            "CLOUDTAP_NET_LIBRARY": str(tmp_path / "cloudtap-net.sh"),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    table = result.stdout
    assert f"ip daddr {SENSOR} udp dport 4789 return" in table
    assert f"ip saddr {SENSOR} udp dport 4789 return" in table
    assert f"ip daddr {SENSOR} ip protocol udp ip frag-off & 0x1fff != 0 return" in table
    assert "elements = { 192.168.0.0/16 }" in table
    assert "elements = { 22 }" in table
    assert table.count('dup to "cloudtap-feed"') == 2
    assert 'hook egress device "eth0"' in table and 'hook ingress device "eth0"' in table
    # The exclusions come before the copy in each chain.
    for chain in table.split("chain ")[2:]:
        assert chain.index("return") < chain.index("dup to")


def test_host_script_refuses_a_hostile_settings_value(tmp_path: Path) -> None:
    text = host_feed.render_cloud_config_part(plan_host_feed("h", {"sensor_address": SENSOR}))
    files = written_files(text)
    for path in (host_feed.SCRIPT_PATH, NET_LIBRARY_PATH):
        (tmp_path / Path(path).name).write_text(files[path].content)
    settings = files[host_feed.SETTINGS_PATH].content.replace(
        'EXCLUDE_PORTS=""', 'EXCLUDE_PORTS="22 99999"'
    )
    (tmp_path / "hostfeed.conf").write_text(settings)
    result = subprocess.run(
        ["bash", str(tmp_path / "cloudtap-hostfeed"), "render", "--interface", "eth0"],
        env={
            "CLOUDTAP_HOSTFEED_CONF": str(tmp_path / "hostfeed.conf"),
            "CLOUDTAP_NET_LIBRARY": str(tmp_path / "cloudtap-net.sh"),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "EXCLUDE_PORTS must list ports from 1 to 65535; '99999' is not one" in result.stderr


def test_sensor_script_with_the_hook_passes_shellcheck(tmp_path: Path) -> None:
    plan = sensor.plan_sensor({"feed_source_cidrs": ["10.0.0.0/16"]}, default_feed_sources=[])
    assert_passes_shellcheck(sensor.render_cloud_config(plan), sensor.SCRIPT_PATH, tmp_path)


def test_sensor_cloud_config_with_the_listener_passes_cloud_init_schema(
    ca: IssuedCertificate,
) -> None:
    issued = issue_leaf(ca, "sensor", server=True, names=(SENSOR,))
    plan = host_feed.plan_listener(None, ["10.1.0.0/24"], "cloudtap0")
    files = host_feed.listener_files(
        plan, host_feed.SensorCredentials(ca.certificate, issued.certificate, issued.private_key)
    )
    sensor_plan = sensor.plan_sensor(
        {"feed_source_cidrs": ["10.0.0.0/16"]}, default_feed_sources=[]
    )
    text = sensor.render_cloud_config(sensor_plan, extra_files=files)
    assert_valid_cloud_config(text)
    assert host_feed.LISTENER_PATH in written_files(text)
    assert sensor.SCRIPT_PATH in written_files(text)


def test_listener_files_for_the_sensor(ca: IssuedCertificate) -> None:
    issued = issue_leaf(ca, "sensor", server=True, names=(SENSOR,))
    plan = host_feed.plan_listener(None, ["10.1.0.0/24"], "cloudtap0")
    files = host_feed.listener_files(
        plan, host_feed.SensorCredentials(ca.certificate, issued.certificate, issued.private_key)
    )
    by_path = {entry.path: entry for entry in files}
    settings = by_path[host_feed.LISTENER_SETTINGS_PATH].content
    assert 'DEVICE="cloudtap0-tx"' in settings and 'ALLOW="10.1.0.0/24"' in settings
    assert by_path[f"{host_feed.LISTENER_CERT_DIR}/sensor.key"].permissions == "0600"


# -- certificates ------------------------------------------------------------------------------


def _handshake(  # noqa: PLR0917 - both ends' certificate and CA, read in that order
    server_cert: IssuedCertificate,
    client_cert: IssuedCertificate,
    server_ca: IssuedCertificate,
    client_ca: IssuedCertificate,
    tmp_path: Path,
    server_name: str = SENSOR,
) -> tuple[str | None, str | None]:
    """A real TLS handshake over a socket pair, with the contexts the agent and listener use;
    each side's error, or ``None``."""

    def files(stem: str, issued: IssuedCertificate) -> tuple[str, str]:
        (tmp_path / f"{stem}.pem").write_text(issued.certificate)
        (tmp_path / f"{stem}.key").write_text(issued.private_key)
        return str(tmp_path / f"{stem}.pem"), str(tmp_path / f"{stem}.key")

    (tmp_path / "server-ca.pem").write_text(server_ca.certificate)
    (tmp_path / "client-ca.pem").write_text(client_ca.certificate)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.verify_mode = ssl.CERT_REQUIRED
    server_context.load_verify_locations(str(tmp_path / "server-ca.pem"))
    server_context.load_cert_chain(*files("server", server_cert))
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.load_verify_locations(str(tmp_path / "client-ca.pem"))
    client_context.load_cert_chain(*files("client", client_cert))
    left, right = socket.socketpair()
    errors: dict[str, str | None] = {"server": None, "client": None}

    def serve() -> None:
        try:
            with server_context.wrap_socket(left, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError) as error:
            errors["server"] = str(error)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_context.wrap_socket(right, server_hostname=server_name) as tls:
            tls.sendall(b"x")
            tls.recv(1)  # TLS 1.3 reports a refused client certificate here
    except (OSError, ssl.SSLError) as error:
        errors["client"] = str(error)
    right.close()
    thread.join(5)
    return errors["server"], errors["client"]


def test_issued_certificates_authenticate_both_ends(ca: IssuedCertificate, tmp_path: Path) -> None:
    sensor_cert = issue_leaf(ca, "sensor", server=True, names=(SENSOR, "sensor.internal"))
    host_cert = issue_leaf(ca, "app-1", server=False)
    server_error, client_error = _handshake(sensor_cert, host_cert, ca, ca, tmp_path)
    assert server_error is None
    assert client_error is None or "EOF" in client_error or "closed" in client_error


def test_the_host_refuses_a_sensor_of_another_ca(ca: IssuedCertificate, tmp_path: Path) -> None:
    other = issue_ca("other")
    impostor = issue_leaf(other, "sensor", server=True, names=(SENSOR,))
    host_cert = issue_leaf(ca, "app-1", server=False)
    _server, client_error = _handshake(impostor, host_cert, ca, ca, tmp_path)
    assert client_error is not None and "CERTIFICATE_VERIFY_FAILED" in client_error


def test_the_host_refuses_the_right_ca_for_the_wrong_name(
    ca: IssuedCertificate, tmp_path: Path
) -> None:
    sensor_cert = issue_leaf(ca, "sensor", server=True, names=("10.9.9.9",))
    host_cert = issue_leaf(ca, "app-1", server=False)
    _server, client_error = _handshake(sensor_cert, host_cert, ca, ca, tmp_path)
    assert client_error is not None and "CERTIFICATE_VERIFY_FAILED" in client_error


def test_a_host_certificate_cannot_pose_as_the_sensor(
    ca: IssuedCertificate, tmp_path: Path
) -> None:
    # A host's certificate, even one naming the sensor's address, is for clients only.
    host_as_server = issue_leaf(ca, "app-1", server=False, names=(SENSOR,))
    host_cert = issue_leaf(ca, "app-2", server=False)
    _server, client_error = _handshake(host_as_server, host_cert, ca, ca, tmp_path)
    assert client_error is not None and "CERTIFICATE_VERIFY_FAILED" in client_error


def test_the_sensor_refuses_a_host_of_another_ca(ca: IssuedCertificate, tmp_path: Path) -> None:
    other = issue_ca("other")
    sensor_cert = issue_leaf(ca, "sensor", server=True, names=(SENSOR,))
    stranger = issue_leaf(other, "app-1", server=False)
    server_error, client_error = _handshake(sensor_cert, stranger, ca, ca, tmp_path)
    assert server_error is not None and "CERTIFICATE_VERIFY_FAILED" in server_error
    assert client_error is not None


def test_the_sensors_certificate_cannot_feed_as_a_host(
    ca: IssuedCertificate, tmp_path: Path
) -> None:
    sensor_cert = issue_leaf(ca, "sensor", server=True, names=(SENSOR,))
    server_error, _client = _handshake(sensor_cert, sensor_cert, ca, ca, tmp_path)
    assert server_error is not None and "CERTIFICATE_VERIFY_FAILED" in server_error


def test_every_issue_makes_a_new_key(ca: IssuedCertificate) -> None:
    first = issue_leaf(ca, "app-1", server=False)
    second = issue_leaf(ca, "app-1", server=False)
    assert first.private_key != second.private_key
    assert first.private_key.startswith("-----BEGIN PRIVATE KEY-----\n")
