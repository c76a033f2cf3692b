"""Suricata on the lab sensor's capture interface, configured by the rendered files only.

The sensor's plan has ``ids: suricata`` on a Debian-family image and the lab's rules file as
``ids_custom_rules``; the sensor script's ``apply`` writes ``/etc/cloudtap/suricata.yaml`` from
the rendered settings, the lab writes ``custom.rules`` from the rendered user data and runs
Suricata on them in the sensor namespace. Traffic carrying a local
test signature and the classic ``uid=0(root)`` response (sid 2100498) must raise one alert per
packet direction, addressed as the private host sent it (before the gateway's NAT), through the
gateway mirror and through a VXLAN, a GRE and a GENEVE feed.
"""

from __future__ import annotations

import ipaddress
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.network_plan import NetworkPlan
from components.os_family import OsFamily
from lab import Lab
from lab.topology import Host

RULES = Path(__file__).resolve().parents[2] / "lab" / "ids" / "lab.rules"
LOCAL_TCP_SID = 9000001
LOCAL_UDP_SID = 9000002
ROOT_RESPONSE_SID = 2100498
SERVER_PORT = 8080
ALERT_TIMEOUT = 30.0
SETTLE = 3.0
"""Seconds to keep reading EVE after the expected alerts arrived, for any duplicate."""

SERVER = """
import socket, sys
listener = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
connection, _ = listener.accept()
request = connection.recv(4096)
connection.sendall(b"uid=0(root) gid=0(root) groups=0(root)\\n")
connection.close()
"""
CLIENT = """
import socket, sys
connection = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5,
                                      source_address=(sys.argv[3], 0))
connection.sendall(b"GET /cloudtap-lab-signature HTTP/1.0\\r\\n\\r\\n")
print(connection.recv(4096).decode().strip(), flush=True)
connection.close()
"""


@pytest.fixture(scope="module")
def ids_lab(lab_environment: None, aws_dev_plan: NetworkPlan) -> Iterator[Lab]:
    if shutil.which("suricata") is None:
        pytest.fail("suricata is not installed: scripts/bootstrap installs it", pytrace=False)
    args = {"ids": "suricata", "ids_custom_rules": str(RULES)}
    with Lab.create(aws_dev_plan, sensor_args=args, sensor_os_family=OsFamily.DEBIAN) as lab:
        lab.start_ids()
        yield lab


def alerts(lab: Lab, sid: int) -> list[dict[str, Any]]:
    return [
        event
        for event in lab.ids_events()
        if event.get("event_type") == "alert" and event["alert"]["signature_id"] == sid
    ]


def wait_for_alerts(lab: Lab, sids: tuple[int, ...], where: Any) -> dict[int, list[Any]]:
    """The alerts of ``sids`` that ``where(event)`` accepts, once each sid has one, then
    ``SETTLE`` s more so a duplicate has its chance to show."""
    deadline = time.monotonic() + ALERT_TIMEOUT
    while time.monotonic() < deadline:
        if all(any(where(e) for e in alerts(lab, sid)) for sid in sids):
            break
        time.sleep(0.5)
    time.sleep(SETTLE)
    return {sid: [e for e in alerts(lab, sid) if where(e)] for sid in sids}


def endpoints(event: dict[str, Any]) -> tuple[str, str]:
    return event["src_ip"], event["dest_ip"]


def test_sensor_check_reports_the_ids_running_on_the_capture_interface(ids_lab: Lab) -> None:
    checked = ids_lab.sensor("check")
    assert checked.returncode == 0, checked.stderr
    assert "ok: suricata (pid " in checked.stderr
    assert "reads cloudtap0" in checked.stderr


def test_rendered_config_is_what_runs(ids_lab: Lab) -> None:
    text = ids_lab.ids_config_path.read_text()
    assert "interface: cloudtap0" in text
    assert "vars.address-groups.HOME_NET: '[10.0.64.0/20,10.0.80.0/20]'" in text
    stats = [e for e in ids_lab.ids_events() if e.get("event_type") == "stats"]
    deadline = time.monotonic() + ALERT_TIMEOUT
    while not stats and time.monotonic() < deadline:
        time.sleep(1.0)
        stats = [e for e in ids_lab.ids_events() if e.get("event_type") == "stats"]
    assert stats, "no stats event: the EVE output is not the rendered one"


def test_gateway_mirror_raises_each_signature_once_with_the_private_address(
    ids_lab: Lab,
) -> None:
    app = str(ids_lab.address(Host.APP))
    remote = str(ids_lab.topology.internet_address)
    python = ids_lab.python
    with ids_lab.background(
        Host.INTERNET, python, "-I", "-S", "-c", SERVER, remote, str(SERVER_PORT)
    ) as server:
        assert server.wait_for(lambda line: line == "ready", 10.0) is not None
        answer = ids_lab.run(
            Host.APP, python, "-I", "-S", "-c", CLIENT, remote, str(SERVER_PORT), app
        )
        assert "uid=0(root)" in answer.stdout

    def this_exchange(event: dict[str, Any]) -> bool:
        return SERVER_PORT in (event.get("src_port"), event.get("dest_port"))

    found = wait_for_alerts(ids_lab, (LOCAL_TCP_SID, ROOT_RESPONSE_SID), this_exchange)
    assert [endpoints(e) for e in found[LOCAL_TCP_SID]] == [(app, remote)], found
    assert [endpoints(e) for e in found[ROOT_RESPONSE_SID]] == [(remote, app)], found


@pytest.mark.parametrize(("kind", "index"), [("aws-vxlan", 1), ("gre", 2), ("gwlb-geneve", 3)])
def test_each_feed_raises_each_signature_once_per_direction(
    ids_lab: Lab, kind: str, index: int
) -> None:
    # Hosts of their own per feed, so each feed's alerts are told apart by address.
    private = ipaddress.IPv4Address(f"10.0.64.{100 + index}")
    remote = ipaddress.IPv4Address(f"198.51.100.{index}")
    ids_lab.send_feed(
        Host.GATEWAY,
        kind,
        source=ids_lab.address(Host.APP),
        count=2,
        signature=(private, remote),
    )

    def this_feed(event: dict[str, Any]) -> bool:
        return {event["src_ip"], event["dest_ip"]} == {str(private), str(remote)}

    found = wait_for_alerts(ids_lab, (LOCAL_UDP_SID, ROOT_RESPONSE_SID), this_feed)
    assert Counter(endpoints(e) for e in found[LOCAL_UDP_SID]) == {
        (str(private), str(remote)): 1
    }, found
    assert Counter(endpoints(e) for e in found[ROOT_RESPONSE_SID]) == {
        (str(remote), str(private)): 1
    }, found
