"""A sensor fleet's flow hashing in network namespaces: does every copy of a flow reach one sensor?

A stand-in for the Network Load Balancer in front of a
:class:`~components.aws.sensor_fleet.SensorFleet`::

    src (10.99.0.1, VXLAN device) --- lb (10.99.0.100: nftables dnat to jhash udp sport mod 2)
                                        |--- s1 (10.99.1.10, UDP 4789 listener)
                                        '--- s2 (10.99.2.10, UDP 4789 listener)

``src`` plays the mirror source: a Linux VXLAN device (as the gateway mirror uses) whose copies
of each flow, both directions, are written onto it as Ethernet frames. Linux derives a copy's
outer UDP source port from a hash of the inner flow that is the same both ways (the flow
dissector orders the addresses and ports before hashing), as AWS Traffic Mirroring keeps it per
flow. ``lb`` hashes that source port to a sensor the way the NLB hashes a UDP flow, so all
copies of one flow, both directions, land on the same sensor.

Pure parts (:func:`judge`, the frame builder) run without root; :func:`run_fleet_lab` needs
root, iproute2 and nftables, and removes every namespace it made.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

VNI = 4242
VXLAN_PORT = 4789
BALANCER = "10.99.0.100"
SOURCE = "10.99.0.1"
SENSORS = {"s1": "10.99.1.10", "s2": "10.99.2.10"}
INNER_CLIENT = "192.168.77.10"
INNER_SERVER = "192.168.77.20"
SERVER_PORT = 443
COMMAND_TIMEOUT = 15.0

# The sender, run in ``src``: frames for every flow, both directions, onto the VXLAN device.
SENDER = textwrap.dedent(
    """
    import socket, struct, sys, time
    device, flows, copies = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

    def checksum(data):
        total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
        total = (total >> 16) + (total & 0xFFFF)
        return ~(total + (total >> 16)) & 0xFFFF

    def frame(source, destination, sport, dport, payload):
        udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                             socket.inet_aton(source), socket.inet_aton(destination))
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        return b"\\x02\\x00\\x00\\x00\\x00\\x02" + b"\\x02\\x00\\x00\\x00\\x00\\x01" \\
            + b"\\x08\\x00" + header + udp

    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((device, 0))
    for seq in range(copies):
        for flow in range(flows):
            port = 20000 + flow
            for direction, (a, b, sp, dp) in enumerate((
                ("{client}", "{server}", port, {server_port}),
                ("{server}", "{client}", {server_port}, port),
            )):
                tag = struct.pack("!4sIII", b"ctfl", flow, direction, seq)
                sock.send(frame(a, b, sp, dp, tag))
        time.sleep(0.002)
    print("sent", flows * 2 * copies, flush=True)
    """
).format(client=INNER_CLIENT, server=INNER_SERVER, server_port=SERVER_PORT)

# The listener, run in each sensor: records (outer source port, flow, direction, seq) per copy.
LISTENER = textwrap.dedent(
    """
    import json, socket, struct, sys, time
    expected = int(sys.argv[1])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.bind(("0.0.0.0", {port}))
    sock.settimeout(0.5)
    print("ready", flush=True)
    seen, idle, started = [], 0.0, time.monotonic()
    while time.monotonic() - started < 30 and idle < 3.0:
        try:
            data, (address, sport) = sock.recvfrom(65535)
        except socket.timeout:
            idle += 0.5 if seen else 0.0
            continue
        idle = 0.0
        # VXLAN (8) + Ethernet (14) + IPv4 (20) + UDP (8), then the sender's tag.
        inner = data[8 + 14 + 20 + 8:][:16]
        vni = int.from_bytes(data[4:7], "big")
        if len(inner) == 16 and inner[:4] == b"ctfl":
            _, flow, direction, seq = struct.unpack("!4sIII", inner)
            seen.append([address, sport, vni, flow, direction, seq])
    print(json.dumps(seen), flush=True)
    """
).format(port=VXLAN_PORT)


@dataclass(frozen=True)
class Copy:
    sensor: str
    outer_source: str
    outer_port: int
    vni: int
    flow: int
    direction: int
    seq: int


@dataclass(frozen=True)
class FleetLabResult:
    copies: tuple[Copy, ...]
    flows: int
    copies_per_direction: int

    @property
    def flows_per_sensor(self) -> dict[str, int]:
        owners: dict[int, set[str]] = {}
        for item in self.copies:
            owners.setdefault(item.flow, set()).add(item.sensor)
        return {
            name: sum(1 for sensors in owners.values() if sensors == {name}) for name in SENSORS
        }


def judge(result: FleetLabResult) -> list[str]:
    """What is wrong: a flow split over sensors, a copy lost or doubled, a sensor unused."""
    problems = []
    by_flow: dict[int, list[Copy]] = {}
    for item in result.copies:
        by_flow.setdefault(item.flow, []).append(item)
    for flow in range(result.flows):
        copies = by_flow.get(flow, [])
        sensors = {item.sensor for item in copies}
        if len(sensors) != 1:
            problems.append(f"flow {flow}: copies reached {sorted(sensors) or 'no sensor'}")
        keys = [(item.direction, item.seq) for item in copies]
        expected = {(d, s) for d in (0, 1) for s in range(result.copies_per_direction)}
        if set(keys) != expected or len(keys) != len(expected):
            missing = len(expected - set(keys))
            problems.append(
                f"flow {flow}: {missing} copies lost, {len(keys) - len(set(keys))} doubled"
            )
        ports = {item.outer_port for item in copies}
        if len(ports) > 1:
            problems.append(f"flow {flow}: the two directions left by different ports {ports}")
    unknown = {item.flow for item in result.copies} - set(range(result.flows))
    if unknown:
        problems.append(f"copies of flows never sent: {sorted(unknown)}")
    unused = [name for name, count in result.flows_per_sensor.items() if count == 0]
    if unused:
        problems.append(f"sensor(s) {unused} received no flow: the hash does not spread")
    if any(item.vni != VNI for item in result.copies):
        problems.append("a copy arrived with another VNI")
    return problems


def _run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result


FLOW_HASH = "jhash udp sport"
"""What the NLB's stand-in hashes: the copies' outer UDP source port."""
PER_PACKET = "numgen inc"
"""A balancer that ignores flows (round robin per packet): the lab must catch it splitting."""


def balancer_ruleset(selector: str = FLOW_HASH) -> str:
    """The NLB's stand-in: ``selector`` picks a sensor for every packet on its own. Stateless
    (no conntrack, which would pin a flow to its first packet's choice and hide the hash): each
    copy is readdressed by what the selector says of that copy alone."""
    targets = ", ".join(f"{index} : {address}" for index, address in enumerate(SENSORS.values()))
    choice = f"{selector} mod {len(SENSORS)} map {{ {targets} }}"
    return textwrap.dedent(
        f"""
        table ip cloudtap_fleet_lab {{
            chain balance {{
                type filter hook prerouting priority raw; policy accept;
                ip daddr {BALANCER} udp dport {VXLAN_PORT} notrack ip daddr set {choice}
            }}
        }}
        """
    )


@contextlib.contextmanager
def fleet_namespaces(selector: str = FLOW_HASH) -> Iterator[Mapping[str, str]]:
    """src, lb, s1 and s2, wired and addressed; removed on the way out."""
    prefix = f"ctfl{secrets.token_hex(2)}-"
    names = {host: f"{prefix}{host}" for host in ("src", "lb", *SENSORS)}
    try:
        for namespace in names.values():
            _run(["ip", "netns", "add", namespace])
            _run(["ip", "-n", namespace, "link", "set", "lo", "up"])
        links = [("src", SOURCE, "24", "lb", BALANCER)] + [
            (host, address, "24", "lb", address.rsplit(".", 1)[0] + ".1")
            for host, address in SENSORS.items()
        ]
        for host, address, prefix_length, peer, peer_address in links:
            outer, inner = f"{host}-{peer}", f"{peer}-{host}"
            _run(["ip", "-n", names[host], "link", "add", outer, "type", "veth", "peer", inner,
                  "netns", names[peer]])  # fmt: skip
            _run(
                ["ip", "-n", names[host], "addr", "add", f"{address}/{prefix_length}", "dev", outer]
            )
            _run(
                [
                    "ip",
                    "-n",
                    names[peer],
                    "addr",
                    "add",
                    f"{peer_address}/{prefix_length}",
                    "dev",
                    inner,
                ]
            )
            _run(["ip", "-n", names[host], "link", "set", outer, "up"])
            _run(["ip", "-n", names[peer], "link", "set", inner, "up"])
            if host in SENSORS:
                _run(["ip", "-n", names[host], "route", "add", "default", "via", peer_address])
        _run(["ip", "netns", "exec", names["lb"], "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        subprocess.run(
            ["ip", "netns", "exec", names["lb"], "nft", "-f", "-"],
            input=balancer_ruleset(selector), text=True, capture_output=True, check=True,
            timeout=COMMAND_TIMEOUT,
        )  # fmt: skip
        # The mirror source's VXLAN device: fixed remote (the balancer), as the gateway's.
        _run(["ip", "-n", names["src"], "link", "add", "mirror0", "type", "vxlan", "id", str(VNI),
              "remote", BALANCER, "dstport", str(VXLAN_PORT), "nolearning"])  # fmt: skip
        _run(["ip", "-n", names["src"], "link", "set", "mirror0", "up"])
        yield names
    finally:
        for namespace in names.values():
            _run(["ip", "netns", "del", namespace], check=False)


def run_fleet_lab(
    flows: int = 32, copies_per_direction: int = 10, selector: str = FLOW_HASH
) -> FleetLabResult:
    """Send ``copies_per_direction`` copies of each direction of ``flows`` flows through the
    balancer choosing by ``selector``; collect what each sensor received."""
    with fleet_namespaces(selector) as names:
        listeners = {
            host: subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    names[host],
                    sys.executable,
                    "-c",
                    LISTENER,
                    str(flows * 2 * copies_per_direction),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for host in SENSORS
        }
        try:
            for process in listeners.values():
                assert process.stdout is not None
                if process.stdout.readline().strip() != "ready":
                    raise RuntimeError("a sensor's listener did not start")
            _run(["ip", "netns", "exec", names["src"], sys.executable, "-c", SENDER, "mirror0",
                  str(flows), str(copies_per_direction)])  # fmt: skip
            copies = []
            for host, process in listeners.items():
                out, err = process.communicate(timeout=40)
                if process.returncode != 0:
                    raise RuntimeError(f"{host}'s listener failed: {err}")
                for source, port, vni, flow, direction, seq in json.loads(out.splitlines()[-1]):
                    copies.append(Copy(host, source, port, vni, flow, direction, seq))
        finally:
            for process in listeners.values():
                if process.poll() is None:
                    process.kill()
                    process.wait()
    return FleetLabResult(tuple(copies), flows, copies_per_direction)
