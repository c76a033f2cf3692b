"""A sensor behind a load balancer answers its health checks only while it is healthy.

The rendered ``cloudtap-sensor health`` runs in the sensor namespace (as
``cloudtap-health.service`` would, checking every half second); the gateway, in the sensor's
health-check networks, plays the load balancer with a TCP and an HTTP check.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from components.network_plan import plan_network
from lab import Host, Lab

pytestmark = pytest.mark.lab

PROBE = """
import socket, sys
source, address, port, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
client = socket.socket()
client.settimeout(2)
client.bind((source, 0))
try:
    client.connect((address, port))
    if kind == "http":
        client.sendall(b"GET /health HTTP/1.1\\r\\nHost: sensor\\r\\n\\r\\n")
        print(client.recv(4096).decode().splitlines()[0])
    else:
        print("connected")
except ConnectionRefusedError:
    print("refused")
except OSError as error:
    print(f"failed: {error}")
"""
ANSWER_WITHIN = 10.0
"""Seconds the responder has to follow a change of the check's verdict (polled)."""
LOAD_BALANCER = "10.0.0.10"
"""The gateway's public-tier address: inside the health-check networks below."""
OUTSIDER = "10.0.128.1"
"""The gateway's monitor-tier address: in the network, but not in the health-check networks."""


@pytest.fixture(scope="module")
def health_lab(lab_environment: None) -> Iterator[Lab]:
    plan = plan_network({"gateway_mirror": {"heartbeat_interval": 1}})
    sensor_args = {"health_check_cidrs": ["10.0.0.0/20"]}
    with Lab.create(plan, sensor_args=sensor_args) as lab, lab.health_responder():
        yield lab


def probe(lab: Lab, kind: str, source: str = LOAD_BALANCER) -> str:
    address = str(lab.address(Host.SENSOR))
    port = str(lab.sensor_plan.health_port)
    argv = [lab.python, "-I", "-c", PROBE, source, address, port, kind]
    return lab.run(Host.GATEWAY, *argv).stdout.strip()


def answer_becomes(lab: Lab, kind: str, expected: str) -> str:
    deadline = time.monotonic() + ANSWER_WITHIN
    while (answer := probe(lab, kind)) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return answer


def test_a_healthy_sensor_answers_tcp_and_http_health_checks(health_lab: Lab) -> None:
    assert answer_becomes(health_lab, "http", "HTTP/1.0 200 OK") == "HTTP/1.0 200 OK"
    assert probe(health_lab, "tcp") == "connected"


def test_health_checks_from_outside_the_health_check_networks_are_dropped(
    health_lab: Lab,
) -> None:
    assert answer_becomes(health_lab, "tcp", "connected") == "connected"
    assert probe(health_lab, "tcp", source=OUTSIDER).startswith("failed: timed out")


def test_the_sensor_stops_answering_when_a_feed_device_is_deleted_and_answers_after_apply(
    health_lab: Lab,
) -> None:
    lab = health_lab
    assert answer_becomes(lab, "http", "HTTP/1.0 200 OK") == "HTTP/1.0 200 OK"
    lab.run(Host.SENSOR, "ip", "link", "del", "dev", "cloudtap-vxlan")
    try:
        assert answer_becomes(lab, "tcp", "refused") == "refused"
        assert probe(lab, "http") == "refused"
        assert "nothing decapsulates vxlan" in lab.sensor("check").stderr
    finally:
        lab.sensor("apply", check=True)
    assert answer_becomes(lab, "http", "HTTP/1.0 200 OK") == "HTTP/1.0 200 OK"
