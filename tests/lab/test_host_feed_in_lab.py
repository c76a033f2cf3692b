"""Host feeds run in namespaces: the rendered host part copies a host's own traffic to the
rendered sensor, by VXLAN and by mutual TLS (issue 14's proof)."""

from __future__ import annotations

import collections
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.host_feed import HostFeedTransport
from components.host_feed_certs import issue_ca, issue_leaf
from lab import unavailable_reason
from lab.hostfeed import (
    CAPTURE_INTERFACE,
    HOST_NAME,
    PEER_ADDRESS,
    SENSOR_ADDRESS,
    FeedHost,
    HostFeedLab,
    frames,
    is_feed_frame,
)
from tests.lab.environment import require_lab

pytestmark = pytest.mark.lab

# Sizes whose copies fit the 1500-byte path, whose VXLAN copies do not (1472: the copy is 1522
# bytes and leaves in two fragments), and whose originals are fragments themselves (3000).
PING_SIZES = (56, 1000, 1472, 3000)

# A client that tries to feed the sensor: plain TCP, or TLS with the given certificate.
CLIENT = """
import socket, ssl, sys
address, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
frame = (60).to_bytes(4, "big") + b"\\x02" * 60
raw = socket.create_connection((address, port), timeout=5)
try:
    if mode == "plain":
        raw.sendall(frame * 4)
        print("answered" if raw.recv(1) else "refused: closed")
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.load_cert_chain(sys.argv[4], sys.argv[5])
        tls = context.wrap_socket(raw)
        tls.sendall(frame * 4)
        print("answered" if tls.recv(1) else "refused: closed")
except (OSError, ssl.SSLError) as error:
    print(f"refused: {error}")
"""

# A man in the middle: a TLS server with a certificate of its own CA for the sensor's address.
MITM = """
import socket, ssl, sys
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[1])))
server.listen(8)
print("listening", flush=True)
while True:
    raw, peer = server.accept()
    try:
        tls = context.wrap_socket(raw, server_side=True)
        data = tls.recv(65536)
        print(f"accepted {len(data)} bytes", flush=True)
    except (OSError, ssl.SSLError) as error:
        print(f"handshake failed: {error}", flush=True)
    raw.close()
"""


@pytest.fixture(scope="module", params=[HostFeedTransport.VXLAN, HostFeedTransport.TLS])
def feed_lab(request: pytest.FixtureRequest) -> Iterator[HostFeedLab]:
    require_lab(unavailable_reason(), os.environ)
    with HostFeedLab.create(request.param) as lab:
        yield lab


@pytest.fixture(scope="module")
def tls_lab() -> Iterator[HostFeedLab]:
    require_lab(unavailable_reason(), os.environ)
    with HostFeedLab.create(HostFeedTransport.TLS) as lab:
        yield lab


def copied(lab: HostFeedLab, *sizes: int) -> tuple[list[bytes], list[bytes], int, int]:
    """The host's own frames (not the feed's), the frames on cloudtap0, the feed's frames on the
    host's wire and the pings answered, for pings of ``sizes``."""
    transport, port = lab.feed_plan.transport, lab.feed_plan.port
    with (
        lab.record(FeedHost.SENSOR, CAPTURE_INTERFACE) as on_sensor,
        lab.record(FeedHost.HOST, "eth0") as on_host,
    ):
        answered = lab.ping(*sizes)
        time.sleep(1.0)  # the last copies cross the router
    wire = frames(on_host)
    own = [frame.data for frame in wire if not is_feed_frame(frame, transport, port)]
    feed = len(wire) - len(own)
    return own, [frame.data for frame in frames(on_sensor)], feed, answered


def test_host_feed_delivers_the_hosts_frames_byte_identical_once(feed_lab: HostFeedLab) -> None:
    own, delivered, feed, answered = copied(feed_lab, *PING_SIZES)
    assert answered == 3 * len(PING_SIZES)
    missing = collections.Counter(own) - collections.Counter(delivered)
    extra = collections.Counter(delivered) - collections.Counter(own)
    # Every frame of the host's (requests, replies, fragments), once, byte for byte; nothing
    # else, in particular no copy of the feed (which would grow without end).
    assert own and not missing and not extra, (
        f"{len(own)} frames on the host's eth0, {len(delivered)} on {CAPTURE_INTERFACE}: "
        f"{sum(missing.values())} missing, {sum(extra.values())} extra"
    )
    assert feed > 0, "the feed itself never crossed the host's wire"


def test_host_and_sensor_checks_name_the_feed(feed_lab: HostFeedLab) -> None:
    host = feed_lab.host("check")
    assert host.returncode == 0, host.stderr
    if feed_lab.feed_plan.transport is HostFeedTransport.VXLAN:
        assert f"copying eth0 both ways to {SENSOR_ADDRESS} (VXLAN VNI 4243" in host.stderr
    else:
        assert "over mutual TLS" in host.stderr and "streaming eth0" in host.stderr
        checked = feed_lab.sensor("check")
        assert checked.returncode == 0, checked.stderr
        assert f"host feed {HOST_NAME} (10.1.0.10): connected" in checked.stderr


def test_sensor_down_costs_the_hosts_traffic_nothing(feed_lab: HostFeedLab) -> None:
    if feed_lab.feed_plan.transport is HostFeedTransport.VXLAN:
        feed_lab.run(FeedHost.SENSOR, "ip", "link", "set", "eth0", "down")
        try:
            answered = feed_lab.ping(56, 1472, 3000, count=10)
        finally:
            feed_lab.run(FeedHost.SENSOR, "ip", "link", "set", "eth0", "up")
            feed_lab.run(FeedHost.SENSOR, "ip", "route", "replace", "default", "via", "10.2.0.1")
        assert answered == 30
        return
    os.kill(feed_lab.listener_pid(), signal.SIGTERM)
    feed_lab.wait_for(lambda: not feed_lab.agent_status()["connected"], what="the agent to notice")
    try:
        assert feed_lab.ping(56, 1472, 3000, count=10) == 30
        assert not feed_lab.agent_status()["connected"]
    finally:
        feed_lab.sensor("apply", check=True)
        feed_lab.wait_for(lambda: feed_lab.agent_status()["connected"], 40, "a reconnection")


def _write_certificate(directory: Path, stem: str, issued: tuple[str, str]) -> tuple[str, str]:
    certificate, key = directory / f"{stem}.pem", directory / f"{stem}.key"
    certificate.write_text(issued[0])
    key.write_text(issued[1])
    return str(certificate), str(key)


def test_sensor_refuses_plain_tcp_and_another_cas_certificate(tls_lab: HostFeedLab) -> None:
    other = issue_ca("another stack")
    stranger = issue_leaf(other, HOST_NAME, server=False)
    certificate, key = _write_certificate(
        tls_lab.workdir, "stranger", (stranger.certificate, stranger.private_key)
    )
    before = tls_lab.listener_status()["refused"]
    python = [tls_lab.python, "-I", "-c", CLIENT, str(SENSOR_ADDRESS), "3005"]
    with tls_lab.record(FeedHost.SENSOR, CAPTURE_INTERFACE) as on_sensor:
        plain = tls_lab.run(FeedHost.HOST, *python, "plain").stdout
        foreign = tls_lab.run(FeedHost.HOST, *python, "tls", certificate, key).stdout
    assert plain.startswith("refused"), plain
    assert foreign.startswith("refused"), foreign
    tls_lab.wait_for(
        lambda: sum(tls_lab.listener_status()["refused"].values()) >= sum(before.values()) + 2,
        what="the listener to count both refusals",
    )
    delivered = [frame.data for frame in frames(on_sensor)]
    assert not any(data == b"\x02" * 60 for data in delivered), "a refused client's frame arrived"
    hosts = tls_lab.listener_status()["hosts"]
    assert list(hosts) == [HOST_NAME], hosts


def test_host_refuses_a_man_in_the_middle_then_resumes(tls_lab: HostFeedLab) -> None:
    other = issue_ca("mitm")
    impostor = issue_leaf(other, "sensor", server=True, names=(str(SENSOR_ADDRESS),))
    certificate, key = _write_certificate(
        tls_lab.workdir, "impostor", (impostor.certificate, impostor.private_key)
    )
    mitm = tls_lab.start(
        FeedHost.ROUTER, tls_lab.python, "-I", "-c", MITM, "3007", certificate, key
    )
    tls_lab.wait_for(lambda: "listening" in mitm.output(), what="the man in the middle")
    # The router (the untrusted network between) hands the host's connection to the impostor.
    tls_lab.run(FeedHost.ROUTER, "nft", "add", "table", "ip", "mitm")
    hook = "{ type nat hook prerouting priority dstnat; }"
    tls_lab.run(FeedHost.ROUTER, "nft", "add", "chain", "ip", "mitm", "pre", hook)
    rule = f"ip daddr {SENSOR_ADDRESS} tcp dport 3005 redirect to :3007"
    tls_lab.run(FeedHost.ROUTER, "nft", "add", "rule", "ip", "mitm", "pre", *rule.split())
    try:
        tls_lab.host("stop", check=True)
        applied = tls_lab.host("apply")
        assert applied.returncode == 0, applied.stderr
        tls_lab.wait_for(lambda: "handshake failed" in mitm.output(), what="a handshake")
        tls_lab.wait_for(
            lambda: tls_lab.agent_status()["counters"]["connect_failures"] > 0, what="its status"
        )
        status = tls_lab.agent_status()
        assert not status["connected"]
        assert status["counters"]["connections"] == 0
        assert "CERTIFICATE_VERIFY_FAILED" in status["last_error"], status["last_error"]
        assert "accepted" not in mitm.output()
    finally:
        tls_lab.run(FeedHost.ROUTER, "nft", "delete", "table", "ip", "mitm")
        mitm.stop()
    tls_lab.wait_for(lambda: tls_lab.agent_status()["connected"], 40, "the real sensor")
    assert tls_lab.ping(56, count=3) == 3


def test_host_reconnects_after_a_sensor_restart_and_resumes(tls_lab: HostFeedLab) -> None:
    tls_lab.wait_for(lambda: tls_lab.agent_status()["connected"], 40, "a connection")
    connections = tls_lab.agent_status()["counters"]["connections"]
    os.kill(tls_lab.listener_pid(), signal.SIGTERM)
    tls_lab.wait_for(lambda: not tls_lab.agent_status()["connected"], what="the agent to notice")
    tls_lab.sensor("apply", check=True)
    tls_lab.wait_for(
        lambda: tls_lab.agent_status()["counters"]["connections"] == connections + 1,
        40,
        "the reconnection",
    )
    own, delivered, _feed, answered = copied(tls_lab, 56, 1000)
    assert answered == 6
    assert collections.Counter(own) == collections.Counter(delivered)
    checked = tls_lab.sensor("check")
    assert f"host feed {HOST_NAME} (10.1.0.10): connected" in checked.stderr, checked.stderr


def test_sensor_refuses_hosts_outside_the_declared_networks(tls_lab: HostFeedLab) -> None:
    # The router's sensor-side address, 10.2.0.1, is outside host_cidrs (10.1.0.0/24).
    before = tls_lab.listener_status()["refused"].get("source", 0)
    python = [tls_lab.python, "-I", "-c", CLIENT, str(SENSOR_ADDRESS), "3005", "plain"]
    answer = tls_lab.run(FeedHost.ROUTER, *python).stdout
    assert answer.startswith("refused"), answer
    tls_lab.wait_for(
        lambda: tls_lab.listener_status()["refused"].get("source", 0) == before + 1,
        what="the listener to count the refusal",
    )


def test_host_check_fails_when_the_feed_is_broken(feed_lab: HostFeedLab) -> None:
    if feed_lab.feed_plan.transport is HostFeedTransport.VXLAN:
        table = ("netdev", "cloudtap_hostfeed")
        feed_lab.run(FeedHost.HOST, "nft", "flush", "chain", *table, "sent")
        expected = "the rules that keep the feed from copying itself are missing"
    else:
        os.kill(int(feed_lab.agent_status()["pid"]), signal.SIGKILL)
        expected = "cloudtap-hostfeed-agent is not running"
    try:
        broken = feed_lab.host("check")
        assert broken.returncode == 1
        assert expected in broken.stderr, broken.stderr
    finally:
        feed_lab.host("apply", check=True)
    assert feed_lab.host("check").returncode == 0


def test_excluded_networks_and_ports_are_never_copied(feed_lab: HostFeedLab) -> None:
    transport = feed_lab.feed_plan.transport
    excluding = HostFeedLab.plan(transport, exclude_cidrs=["198.51.100.10/32"])
    feed_lab.write_host_files(excluding)
    feed_lab.host("apply", check=True)
    try:
        if transport is HostFeedTransport.TLS:
            feed_lab.wait_for(lambda: feed_lab.agent_status()["connected"], 40, "the agent")
        own, delivered, _feed, answered = copied(feed_lab, 56, 1000)
        assert answered == 6
        peer = PEER_ADDRESS.packed
        to_peer = [data for data in own if peer in (data[26:30], data[30:34])]
        assert len(to_peer) == 12, "the pings crossed the host's wire"
        copied_to_peer = [data for data in delivered if peer in (data[26:30], data[30:34])]
        assert copied_to_peer == [], f"{len(copied_to_peer)} excluded frames copied"
    finally:
        feed_lab.write_host_files(feed_lab.feed_plan)
        feed_lab.host("apply", check=True)
    if transport is HostFeedTransport.TLS:
        feed_lab.wait_for(lambda: feed_lab.agent_status()["connected"], 40, "the agent")
    own, delivered, _feed, _answered = copied(feed_lab, 56)
    assert collections.Counter(own) == collections.Counter(delivered)
