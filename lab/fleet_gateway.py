"""The gateway mirror to a sensor fleet behind an NLB, in network namespaces.

The aws-dev lab (:class:`~lab.lab.Lab`) with ``gateway_mirror.to_fleet``: the rendered gateway
picks zone 1's NLB address (the monitor subnet's .11) from ``MIRROR_SENSOR_BY_ZONE`` and sends
its VXLAN copies there. The lab's sensor host holds that address and plays the NLB: the
stateless ``jhash udp sport`` balancer of :mod:`lab.fleet` readdresses each copy to one of two
sensors, each running the rendered ``cloudtap-sensor`` as a fleet sensor (its settings from
:func:`~components.aws.sensor_fleet.plan_sensor_fleet`)::

    app --- gw (cloudtap-gateway) --- nlb 10.0.128.11 (jhash udp sport mod 2) --- s1 10.99.1.10
                                                                               '-- s2 10.99.2.10

UDP flows from the app to the internet host and their answers cross the gateway, which copies
both directions; each sensor records what reaches its capture interface. Needs root, iproute2
and nftables; every namespace goes with the lab.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import sensor
from components.aws.sensor_fleet import plan_sensor_fleet
from components.cloud_config import NET_LIBRARY_PATH, written_files
from components.mirroring import HEARTBEAT_MISSED, fleet_load_balancer_address, plan_gateway_mirror
from components.monitored_network import Cloud, NetworkDesign
from components.network_plan import NetworkPlan, Tier
from components.sensor import HeartbeatSource, SensorPlan, replace_heartbeats

from .fleet import FLOW_HASH
from .lab import Lab, LabError, _run
from .topology import Host

SENSORS = {"s1": "10.99.1.10", "s2": "10.99.2.10"}
ECHO_PORT = 7007
HEARTBEAT_INTERVAL = 1
"""Seconds between the gateway's heartbeats: short, so three missed ones take seconds."""
COMMAND_TIMEOUT = 30.0

# The internet host's side: answers every datagram with the same payload.
ECHO = textwrap.dedent(
    """
    import socket, sys
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((sys.argv[1], int(sys.argv[2])))
    print("ready", flush=True)
    while True:
        data, peer = sock.recvfrom(2048)
        sock.sendto(data, peer)
    """
)

# The app's side: `copies` datagrams on each of `flows` source ports, each answered.
CLIENT = textwrap.dedent(
    """
    import socket, struct, sys
    server, port, flows, copies = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    answered = 0
    for flow in range(flows):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("0.0.0.0", 30000 + flow))
        sock.settimeout(2.0)
        for seq in range(copies):
            sock.sendto(struct.pack("!4sII", b"ctgw", flow, seq), (server, port))
            try:
                sock.recvfrom(2048)
                answered += 1
            except socket.timeout:
                pass
        sock.close()
    print(answered, flush=True)
    """
)

# Each sensor's capture interface: every UDP frame of the flows, and any heartbeat that leaked.
RECORDER = textwrap.dedent(
    """
    import json, socket, struct, sys, time
    device, seconds = sys.argv[1], float(sys.argv[2])
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    sock.bind((device, 0))
    sock.settimeout(0.2)
    print("ready", flush=True)
    seen, leaked, deadline = [], 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            frame = sock.recv(65535)
        except socket.timeout:
            continue
        if len(frame) < 42 or frame[12:14] != b"\\x08\\x00" or frame[23] != 17:
            continue
        ihl = (frame[14] & 0x0F) * 4
        source, destination = socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34])
        sport, dport = struct.unpack("!HH", frame[14 + ihl:18 + ihl])
        payload = frame[22 + ihl:]
        if payload[:8] == b"cloudtap":
            leaked += 1
        elif payload[:4] == b"ctgw" and len(payload) >= 12:
            flow, seq = struct.unpack("!II", payload[4:12])
            seen.append([source, sport, destination, dport, flow, seq])
    print(json.dumps({"seen": seen, "leaked": leaked}), flush=True)
    """
)


@dataclass(frozen=True)
class SeenCopy:
    sensor: str
    source: str
    destination: str
    flow: int
    seq: int


@dataclass(frozen=True)
class FleetGatewayResult:
    copies: tuple[SeenCopy, ...]
    flows: int
    copies_per_direction: int
    answered: int
    app_address: str
    leaked_heartbeats: dict[str, int]
    """Heartbeat datagrams that reached each sensor's capture interface (must be none)."""
    other_heartbeats: dict[str, int]
    """Each sensor's ``heartbeat_other`` counter: heartbeats from no source it expects."""
    checks: dict[str, subprocess.CompletedProcess[str]]
    """Each sensor's ``cloudtap-sensor check`` after the traffic."""
    destination: str
    """What the gateway said with ``cloudtap-gateway destination``."""

    @property
    def flows_per_sensor(self) -> dict[str, int]:
        owners: dict[int, set[str]] = {}
        for item in self.copies:
            owners.setdefault(item.flow, set()).add(item.sensor)
        return {name: sum(1 for o in owners.values() if o == {name}) for name in SENSORS}


def judge(result: FleetGatewayResult) -> list[str]:
    """What is wrong: a flow split over sensors, a copy lost or doubled, a sensor unused, a
    heartbeat on a capture interface, a failing check."""
    problems = []
    if result.answered != result.flows * result.copies_per_direction:
        problems.append(f"only {result.answered} datagrams answered")
    by_flow: dict[int, list[SeenCopy]] = {}
    for item in result.copies:
        by_flow.setdefault(item.flow, []).append(item)
    for flow in range(result.flows):
        copies = by_flow.get(flow, [])
        sensors = {item.sensor for item in copies}
        if len(sensors) != 1:
            problems.append(f"flow {flow}: copies reached {sorted(sensors) or 'no sensor'}")
        keys = [(item.source == result.app_address, item.seq) for item in copies]
        expected = {(d, s) for d in (True, False) for s in range(result.copies_per_direction)}
        if set(keys) != expected or len(keys) != len(expected):
            problems.append(
                f"flow {flow}: {len(expected - set(keys))} copies lost, "
                f"{len(keys) - len(set(keys))} doubled"
            )
    unused = [name for name, count in result.flows_per_sensor.items() if count == 0]
    if unused:
        problems.append(f"sensor(s) {unused} received no flow")
    for name, count in result.leaked_heartbeats.items():
        if count:
            problems.append(f"{name}: {count} heartbeat(s) reached the capture interface")
    if sum(1 for count in result.other_heartbeats.values() if count) != 1:
        problems.append(f"heartbeats not all on one sensor: {result.other_heartbeats}")
    for name, checked in result.checks.items():
        if checked.returncode != 0:
            problems.append(f"{name}: check failed: {checked.stderr.strip()}")
    return problems


def fleet_network(plan: NetworkPlan) -> NetworkPlan:
    """``plan`` with the gateway mirror sent to the fleet, heartbeats every second."""
    mirror = plan_gateway_mirror(
        {"to_fleet": True, "heartbeat_interval": HEARTBEAT_INTERVAL},
        plan.subnets[Tier.MONITOR],
        fleets=True,
    )
    return dataclasses.replace(plan, gateway_mirror=mirror)


def fleet_sensor_plan(plan: NetworkPlan) -> SensorPlan:
    """What every sensor of a fleet on ``plan`` runs (no IDS in the lab)."""
    design = NetworkDesign(cloud=Cloud.AWS, plan=plan, underlay_mtu=9001)
    return plan_sensor_fleet({"network": design, "ids": "none"}).plan


class FleetSensor:
    """One fleet sensor: its namespace, the rendered sensor files in its own directory."""

    def __init__(self, name: str, namespace: str, directory: Path, python: str) -> None:
        self.name, self.namespace, self.directory, self.python = name, namespace, directory, python
        self.script = directory / Path(sensor.SCRIPT_PATH).name
        self.settings = directory / Path(sensor.SETTINGS_PATH).name

    def write(self, plan: SensorPlan) -> None:
        files = written_files(sensor.render_cloud_config(plan))
        for rendered in (
            sensor.SETTINGS_PATH,
            sensor.SCRIPT_PATH,
            sensor.DECAP_PATH,
            sensor.BPF_OBJECT_PATH,
            sensor.BPF_HELPER_PATH,
            sensor.HEALTH_PATH,
            NET_LIBRARY_PATH,
        ):
            local = self.directory / Path(rendered).name
            local.write_bytes(files[rendered].data())
            local.chmod(int(files[rendered].permissions, 8))
        for sub in ("run", "state"):
            (self.directory / sub).mkdir(exist_ok=True)

    def env(self) -> dict[str, str]:
        d = self.directory
        return {
            "CLOUDTAP_SENSOR_CONF": str(self.settings),
            "CLOUDTAP_NET_LIBRARY": str(d / Path(NET_LIBRARY_PATH).name),
            "CLOUDTAP_SENSOR_RUN_DIR": str(d / "run"),
            "CLOUDTAP_SENSOR_DECAP": str(d / Path(sensor.DECAP_PATH).name),
            "CLOUDTAP_SENSOR_HEALTH": str(d / Path(sensor.HEALTH_PATH).name),
            "CLOUDTAP_SENSOR_PYTHON": self.python,
            "CLOUDTAP_SENSOR_SUPERVISOR": "process",
            "CLOUDTAP_STATE_DIR": str(d / "state"),
            "CLOUDTAP_SENSOR_BPF_OBJECT": str(d / Path(sensor.BPF_OBJECT_PATH).name),
            "CLOUDTAP_SENSOR_BPF_HELPER": str(d / Path(sensor.BPF_HELPER_PATH).name),
        }

    def run(self, command: str, *, check: bool = False) -> subprocess.CompletedProcess[str]:
        interpreter = self.script.read_text(encoding="utf-8").splitlines()[0][2:].strip().split()
        return _run(
            ["ip", "netns", "exec", self.namespace, *interpreter, str(self.script), command],
            env={**os.environ, **self.env()},
            host=self.name,
            check=check,
            timeout=COMMAND_TIMEOUT,
        )

    def other_heartbeats(self) -> int:
        listed = _run(
            ["ip", "netns", "exec", self.namespace, "nft", "-j", "list", "counter", "inet",
             "cloudtap_sensor", "heartbeat_other"],
            host=self.name,
        ).stdout  # fmt: skip
        for item in json.loads(listed)["nftables"]:
            if "counter" in item:
                return int(item["counter"]["packets"])
        raise LabError(f"{self.name}: no heartbeat_other counter")


def balancer_ruleset(address: str) -> str:
    """The NLB's stand-in at ``address``, as :func:`lab.fleet.balancer_ruleset`: stateless, each
    copy readdressed by the hash of its own outer UDP source port."""
    targets = ", ".join(f"{index} : {a}" for index, a in enumerate(SENSORS.values()))
    choice = f"{FLOW_HASH} mod {len(SENSORS)} map {{ {targets} }}"
    rule = f"ip daddr {address} udp dport 4789 notrack ip daddr set {choice}"
    return (
        "table ip cloudtap_fleet_lab {\n"
        "    chain balance {\n"
        "        type filter hook prerouting priority raw; policy accept;\n"
        f"        {rule}\n"
        "    }\n"
        "}\n"
    )


@contextlib.contextmanager
def fleet_gateway_lab(plan: NetworkPlan) -> Iterator[tuple[Lab, Mapping[str, FleetSensor]]]:
    """The lab for ``plan`` sent to a fleet (:func:`fleet_network`), its sensor host turned into
    the stand-in NLB with two fleet sensors behind it, each applied."""
    with Lab.create(fleet_network(plan), apply_sensor=False) as lab:
        nlb = lab.namespace(Host.SENSOR)
        address = str(lab.address(Host.SENSOR))
        if address != str(fleet_load_balancer_address(plan.subnets[Tier.MONITOR][0])):
            raise LabError(f"the lab's monitor host is {address}, not zone 1's NLB address")
        _run(["ip", "netns", "exec", nlb, "sysctl", "-qw", "net.ipv4.ip_forward=1"], host="nlb")
        subprocess.run(
            ["ip", "netns", "exec", nlb, "nft", "-f", "-"],
            input=balancer_ruleset(address), text=True, capture_output=True, check=True,
            timeout=COMMAND_TIMEOUT,
        )  # fmt: skip
        sensors: dict[str, FleetSensor] = {}
        fleet_plan = fleet_sensor_plan(plan)
        for name, sensor_address in SENSORS.items():
            namespace = f"{lab.prefix}{name}"
            _run(["ip", "netns", "add", namespace], host=name)
            lab._namespaces.append(namespace)
            router = sensor_address.rsplit(".", 1)[0] + ".1"
            _run(["ip", "-n", namespace, "link", "set", "lo", "up"], host=name)
            _run(["ip", "-n", nlb, "link", "add", f"to-{name}", "type", "veth", "peer", "name",
                  "eth0", "netns", namespace], host="nlb")  # fmt: skip
            _run(["ip", "-n", nlb, "addr", "add", f"{router}/24", "dev", f"to-{name}"], host="nlb")
            _run(["ip", "-n", nlb, "link", "set", f"to-{name}", "up"], host="nlb")
            _run(["ip", "-n", namespace, "addr", "add", f"{sensor_address}/24", "dev", "eth0"])
            _run(["ip", "-n", namespace, "link", "set", "eth0", "up"], host=name)
            _run(["ip", "-n", namespace, "route", "add", "default", "via", router], host=name)
            directory = lab.workdir / name
            directory.mkdir()
            fleet_sensor = FleetSensor(name, namespace, directory, lab.python)
            fleet_sensor.write(fleet_plan)
            fleet_sensor.run("apply", check=True)
            sensors[name] = fleet_sensor
        yield lab, sensors


def send_flows(
    lab: Lab, sensors: Mapping[str, FleetSensor], flows: int, copies_per_direction: int
) -> FleetGatewayResult:
    """Echoed UDP flows from the app to the internet host, recorded on every sensor's capture
    interface; then each sensor's heartbeat counter and check."""
    capture = fleet_sensor_plan(lab.topology.plan).capture_interface
    recorders = {
        name: subprocess.Popen(
            ["ip", "netns", "exec", s.namespace, lab.python, "-c", RECORDER, capture, "12"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, s in sensors.items()
    }
    try:
        for process in recorders.values():
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise LabError("a sensor's recorder did not start")
        server = str(lab.address(Host.INTERNET))
        with lab.background(Host.INTERNET, lab.python, "-c", ECHO, server, str(ECHO_PORT)) as echo:
            if echo.wait_for(lambda line: line.strip() == "ready", 10.0) is None:
                raise LabError("the echo server did not start")
            answered = lab.run(
                Host.APP, lab.python, "-c", CLIENT, server, str(ECHO_PORT), str(flows),
                str(copies_per_direction), timeout=60.0,
            ).stdout.strip()  # fmt: skip
        copies, leaked = [], {}
        for name, process in recorders.items():
            out, err = process.communicate(timeout=30)
            if process.returncode != 0:
                raise LabError(f"{name}'s recorder failed: {err}")
            record = json.loads(out.splitlines()[-1])
            leaked[name] = int(record["leaked"])
            for source, _sport, destination, _dport, flow, seq in record["seen"]:
                copies.append(SeenCopy(name, source, destination, flow, seq))
    finally:
        for process in recorders.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return FleetGatewayResult(
        copies=tuple(copies),
        flows=flows,
        copies_per_direction=copies_per_direction,
        answered=int(answered or 0),
        app_address=str(lab.address(Host.APP)),
        leaked_heartbeats=leaked,
        other_heartbeats={name: s.other_heartbeats() for name, s in sensors.items()},
        checks={name: s.run("check") for name, s in sensors.items()},
        destination=lab.gateway("destination").stdout.strip(),
    )


def expect_gateway_heartbeats(sensors: Mapping[str, FleetSensor], plan: NetworkPlan) -> None:
    """Make every fleet sensor expect the gateway's heartbeats, as a lone sensor at the gateway's
    address does (what cloudtap does not do for a fleet): applied in place."""
    mirror = plan.gateway_mirror
    assert mirror is not None
    expected = ((HeartbeatSource(plan.subnets[Tier.PUBLIC][0], mirror.vni),), HEARTBEAT_INTERVAL)
    watched = replace_heartbeats(fleet_sensor_plan(plan), expected)
    for fleet_sensor in sensors.values():
        fleet_sensor.settings.write_text(sensor.render_settings(watched), encoding="utf-8")
        fleet_sensor.run("apply", check=True)


SILENCE_SECONDS = HEARTBEAT_INTERVAL * (HEARTBEAT_MISSED + 2)
"""Long enough for a sensor expecting heartbeats that never come to call the source silent."""


def checks(sensors: Mapping[str, FleetSensor]) -> dict[str, Any]:
    return {name: s.run("check") for name, s in sensors.items()}
