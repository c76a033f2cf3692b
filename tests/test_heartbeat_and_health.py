"""The heartbeat's three parties agree: what cloudtap-heartbeat builds is what the gateway's copy
rule and the sensor's counting rules match, field by field; and the health responder's answers.

The rules match raw bits at fixed offsets (``@th,OFFSET,LENGTH VALUE``), so each rendered match
is evaluated here against the bytes the sender builds, as nftables would: a wrong offset, a
changed constant or an IPv4 option in the sender fails this test before any lab runs.
"""

from __future__ import annotations

import ast
import ipaddress
import re
import subprocess
import sys
from pathlib import Path

import pytest

from components import gateway, sensor
from components.assets.gateway import cloudtap_heartbeat as heartbeat
from components.assets.sensor import cloudtap_health as health
from components.cloud_config import asset_text
from components.mirroring import GatewayMirrorMode
from components.network_plan import plan_network
from tests.shell import write_rendered

_RAW = re.compile(r"@th,(\d+),(\d+) (?:(0x[0-9a-f]+)|(\d+))")
SOURCE = "10.0.0.10"


def library_value(name: str) -> str:
    found = re.search(rf"^readonly {name}=(\S+)$", asset_text("common", "cloudtap-net.sh"), re.M)
    assert found, name
    return found[1]


def heartbeat_packet(source: str = SOURCE) -> bytes:
    magic = bytes.fromhex(library_value("HEARTBEAT_MAGIC").removeprefix("0x"))
    data = heartbeat.payload(magic, 7)
    port = int(library_value("HEARTBEAT_PORT"))
    return heartbeat.ip_packet(source, library_value("HEARTBEAT_ADDRESS"), port, data)


def raw_matches(rule: str, transport: bytes) -> bool:
    """Every ``@th`` match of ``rule`` against ``transport`` (the bytes from the UDP header on)."""
    found = _RAW.findall(rule)
    assert found, rule
    bits = int.from_bytes(transport, "big")
    total = len(transport) * 8
    for offset, length, hexadecimal, decimal in found:
        start, size = int(offset), int(length)
        value = int(hexadecimal, 16) if hexadecimal else int(decimal)
        if (bits >> (total - start - size)) & ((1 << size) - 1) != value:
            return False
    return True


def render(tmp_path: Path, script: str, cloud_config: str, env_key: str, conf: str) -> str:
    files, env = write_rendered(cloud_config, tmp_path)
    env[env_key] = str(files[conf])
    argv = ["bash", str(next(p for p in files.values() if p.name == script)), "render"]
    if script == "cloudtap-gateway":
        argv += ["--wan", "eth0", "--mirrored", "eth0", "--own-addresses", SOURCE]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def sensor_rules(tmp_path: Path, mode: str = "vxlan") -> list[str]:
    network = plan_network({"gateway_mirror": {"mode": mode}})
    assert network.gateway_mirror is not None
    planned = sensor.plan_sensor(
        {},
        default_feed_sources=[network.cidr_block],
        heartbeats=sensor.gateway_heartbeats(network, network.gateway_mirror.sensor_address),
    )
    (tmp_path / "sensor.conf").write_text(sensor.render_settings(planned))
    library = tmp_path / "cloudtap-net.sh"
    library.write_text(asset_text("common", "cloudtap-net.sh"))
    script = tmp_path / "cloudtap-sensor"
    script.write_text(asset_text("sensor", "cloudtap-sensor.sh"))
    env = {
        "CLOUDTAP_SENSOR_CONF": str(tmp_path / "sensor.conf"),
        "CLOUDTAP_NET_LIBRARY": str(library),
    }
    # render needs a host with an underlay; the rules themselves need only the settings.
    script.write_text(script.read_text().replace('main "$@"\n', "parse_settings\nrender_ruleset\n"))
    result = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    return [line.strip() for line in result.stdout.splitlines() if "heartbeat" in line]


def vxlan_feed(packet: bytes, vni: int) -> bytes:
    """The UDP header and payload of a VXLAN copy of ``packet`` (as the gateway sends it)."""
    ethernet = heartbeat.DESTINATION_MAC + bytes.fromhex("020000000009") + b"\x08\x00"
    vxlan = bytes([0x08, 0, 0, 0]) + vni.to_bytes(3, "big") + b"\x00"
    udp = (49152).to_bytes(2, "big") + (4789).to_bytes(2, "big") + bytes(4)
    return udp + vxlan + ethernet + packet


def test_the_sender_builds_a_valid_ipv4_header_without_options() -> None:
    packet = heartbeat_packet()
    assert packet[0] == 0x45
    assert heartbeat.checksum(packet[:20]) == 0
    assert ipaddress.IPv4Address(packet[12:16]) == ipaddress.IPv4Address(SOURCE)
    assert packet[28:36] == b"cloudtap"


def test_the_gateways_copy_rule_matches_the_heartbeat(tmp_path: Path) -> None:
    network = plan_network({"gateway_mirror": {}})
    text = render(
        tmp_path, "cloudtap-gateway", gateway.render_cloud_config(network),
        "CLOUDTAP_GATEWAY_CONF", gateway.SETTINGS_PATH,
    )  # fmt: skip
    rules = [line for line in text.splitlines() if gateway.rule_comments()["HEARTBEAT"] in line]
    assert len(rules) == 1 and 'dup to "cloudtap-mirror" drop' in rules[0]
    assert f"ip daddr {library_value('HEARTBEAT_ADDRESS')} udp dport 9" in rules[0]
    assert raw_matches(rules[0], heartbeat_packet()[20:])


def test_the_sensor_counts_the_gateways_vxlan_heartbeat_by_source_and_vni(tmp_path: Path) -> None:
    expected, other = sensor_rules(tmp_path)[-2:]
    assert 'counter name "heartbeat_1" drop' in expected
    assert 'counter name "heartbeat_other" drop' in other
    assert raw_matches(expected, vxlan_feed(heartbeat_packet(), 4242))
    assert not raw_matches(expected, vxlan_feed(heartbeat_packet(), 4243)), "wrong VNI"
    assert not raw_matches(expected, vxlan_feed(heartbeat_packet("10.0.16.10"), 4242))
    assert raw_matches(other, vxlan_feed(heartbeat_packet(), 4243))
    # An ordinary workload copy is neither.
    workload = heartbeat.ip_packet(SOURCE, "203.0.113.10", 9, b"cloudtap? no, a workload")
    assert not raw_matches(other, vxlan_feed(workload, 4242))


def test_the_sensor_counts_a_tee_heartbeat_by_its_own_fields(tmp_path: Path) -> None:
    rules = sensor_rules(tmp_path, "tee")
    teed = [rule for rule in rules if 'counter name "heartbeat_1"' in rule]
    assert len(teed) == 1 and "ip saddr 10.0.0.0/20 ip daddr 198.18.0.1 udp dport 9" in teed[0]
    assert raw_matches(teed[0], heartbeat_packet()[20:])


def test_only_the_sensor_the_gateway_mirrors_to_expects_heartbeats() -> None:
    network = plan_network({"gateway_mirror": {"vni": 7, "heartbeat_interval": 30}})
    mirror = network.gateway_mirror
    assert mirror is not None
    sources, interval = sensor.gateway_heartbeats(network, mirror.sensor_address)
    assert [source.setting for source in sources] == ["10.0.0.0/20:7"]
    assert interval == 30
    other = mirror.sensor_address + 1
    assert sensor.gateway_heartbeats(network, other)[0] == ()
    assert sensor.gateway_heartbeats(plan_network(), mirror.sensor_address)[0] == ()
    tee = plan_network({"gateway_mirror": {"mode": GatewayMirrorMode.TEE.value}})
    assert tee.gateway_mirror is not None
    teed = sensor.gateway_heartbeats(tee, tee.gateway_mirror.sensor_address)[0]
    assert [source.setting for source in teed] == ["10.0.0.0/20:tee"]


@pytest.mark.parametrize(
    ("request_line", "status"),
    [(b"GET /health HTTP/1.1", b"200 OK"), (b"HEAD / HTTP/1.0", b"200 OK"),
     (b"POST / HTTP/1.1", b"405 Method Not Allowed")],
)  # fmt: skip
def test_the_health_responder_answers_get_and_head_only(request_line: bytes, status: bytes) -> None:
    answer = health.response(request_line + b"\r\n\r\n", "cloudtap-sensor: ok: ...")
    assert answer.startswith(b"HTTP/1.0 " + status + b"\r\n")
    assert answer.endswith(b"\r\n\r\n") == request_line.startswith(b"HEAD")


def test_the_health_responder_takes_the_checks_verdict(tmp_path: Path) -> None:
    assert health.run_check(["sh", "-c", "echo first; echo 'ok: all well' >&2"], 5) == (
        True,
        "ok: all well",
    )
    assert health.run_check(["sh", "-c", "echo 'FAILED: no'; exit 1"], 5) == (False, "FAILED: no")
    passed, said = health.run_check([str(tmp_path / "missing")], 5)
    assert not passed and "could not run" in said


@pytest.mark.parametrize("module", [heartbeat, health], ids=["heartbeat", "health"])
def test_the_instance_scripts_parse_as_python_3_9_and_run_on_the_standard_library(
    module: object,
) -> None:
    """Amazon Linux 2023's Python is 3.9, and these run with ``python3 -I``."""
    path = Path(str(getattr(module, "__file__", "")))
    ast.parse(path.read_text(), feature_version=(3, 9))
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(path), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
