"""One instance booted for real: systemd as PID 1 in a ``systemd-nspawn`` container, cloud-init
reading a NoCloud seed, on a copy-on-write overlay of the cached root.

Network: the container has a network namespace of its own, made fresh for every boot (a reboot
gets new devices, as a real one does), holding one veth interface with a fixed MAC address. Its
peer sits in a second namespace, the "VPC router": the interface's router address, where a
``socat`` forwards TCP port 3142 to the archive proxy's Unix socket in the host's namespace
(:mod:`tests.boot.archive_proxy`). Neither namespace has a route out of the machine, so the
container reaches Debian's archive through the proxy and nothing else; the host's own network
configuration is never changed. cloud-init configures the interface from the seed's
``network-config`` (addresses as the cloud's metadata would give them) for systemd-networkd.

On a host whose PID 1 is not systemd, nspawn needs ``--register=no --keep-unit``; the gateway
and sensor set ``/proc/sys/net`` values, which ``SYSTEMD_NSPAWN_API_VFS_WRITABLE=network``
leaves writable in the container's own network namespace.

Block devices (a log volume, :mod:`tests.boot.volume`) are bound into the container's ``/dev``
at every boot (``--bind=/dev/loopN``). With ``--keep-unit`` nspawn makes no scope of its own and
so sets no device policy (``--property=DeviceAllow=`` would need one): the container may use
what the test's own cgroup may, and the bound node works as it is. No udev runs in a
container: ``/dev/disk/by-label`` is a read-only directory of the links udev would make for
the labels the devices' file systems have or will be given, made before the boot.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

# What systemd-nspawn's exit status is when the container asked to be rebooted.
REBOOT_STATUS = 133
PROXY_PORT = 3142
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WORK_BASE = Path("/var/tmp/cloudtap-boot")
NETNS_PREFIX = "ctboot-"


@dataclass(frozen=True)
class Interface:
    """The instance's one network interface, as the cloud attaches it."""

    name: str
    mac: str
    address: ipaddress.IPv4Interface
    router: ipaddress.IPv4Address
    """The subnet's router (on AWS the VPC router, .1): the default route's next hop."""

    def network_config(self) -> str:
        """The NoCloud ``network-config`` (version 2) that gives the interface its address."""
        config = {
            "version": 2,
            "ethernets": {
                self.name: {
                    "match": {"macaddress": self.mac},
                    "set-name": self.name,
                    "addresses": [str(self.address)],
                    "routes": [{"to": "0.0.0.0/0", "via": str(self.router)}],
                }
            },
        }
        return yaml.safe_dump(config, sort_keys=False)


class BootError(AssertionError):
    """The container did not boot, or a command in it could not run."""


def _run(argv: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise BootError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers() -> None:
    """Namespaces, mounts and directories of boot tests whose process is gone (killed runs)."""
    names = _run(["ip", "netns", "list"]).stdout.split()
    for name in names:
        if not name.startswith(NETNS_PREFIX):
            continue
        owner = name[len(NETNS_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not alive(int(owner)):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    if not WORK_BASE.is_dir():
        return
    for directory in WORK_BASE.iterdir():
        owner = directory.name.split("-", 1)[0]
        if owner.isdigit() and not alive(int(owner)):
            merged = directory / "merged"
            subprocess.run(["umount", "-l", str(merged)], capture_output=True, check=False)
            shutil.rmtree(directory, ignore_errors=True)


class Machine:
    """A container that boots ``root`` with ``user_data``; call :meth:`close` when done."""

    def __init__(
        self,
        name: str,
        root: Path,
        *,
        interface: Interface,
        proxy_socket: Path,
        user_data: str,
        instance_id: str,
        devices: Mapping[Path, str] | None = None,
    ) -> None:
        """``devices``: block device -> the label of the file system it has or will be given
        (its ``/dev/disk/by-label`` link)."""
        self.name = name
        self.devices = dict(devices or {})
        self.interface = interface
        self.proxy_socket = proxy_socket
        tag = f"{os.getpid()}-{name}"
        self.netns = f"{NETNS_PREFIX}{tag}"
        self.router_netns = f"{NETNS_PREFIX}{tag}-vpc"
        self.directory = WORK_BASE / tag
        self.merged = self.directory / "merged"
        self.console_log = self.directory / "console.log"
        self.boots = 0
        self._nspawn: subprocess.Popen[bytes] | None = None
        self._socat: subprocess.Popen[bytes] | None = None
        self._mounted = False
        shutil.rmtree(self.directory, ignore_errors=True)
        for part in ("upper", "work", "merged"):
            (self.directory / part).mkdir(parents=True)
        _run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={root},upperdir={self.directory / 'upper'},"
                f"workdir={self.directory / 'work'}",
                str(self.merged),
            ]
        )
        self._mounted = True
        try:
            self._seed(interface, user_data, instance_id)
            labels = self.directory / "disk" / "by-label"
            labels.mkdir(parents=True)
            for device, label in self.devices.items():
                (labels / label).symlink_to(device)
        except BaseException:
            self.close()
            raise

    def _seed(self, interface: Interface, user_data: str, instance_id: str) -> None:
        """The NoCloud seed, and what the cloud around the image provides."""
        seed = self.merged / "var/lib/cloud/seed/nocloud"
        seed.mkdir(parents=True)
        (seed / "user-data").write_text(user_data)
        (seed / "meta-data").write_text(
            f"instance-id: {instance_id}\nlocal-hostname: {self.name}\n"
        )
        (seed / "network-config").write_text(interface.network_config())
        # The subnet is IPv4 only and sends no router advertisements: systemd-networkd would wait
        # out its router solicitations (13 s) at every boot. cloud-init 22.4 renders the seed's
        # accept-ra only for DHCP, so this drop-in for the file it writes says it instead.
        drop_in = self.merged / f"etc/systemd/network/10-cloud-init-{interface.name}.network.d"
        drop_in.mkdir(parents=True)
        (drop_in / "ipv4-only.conf").write_text("[Network]\nIPv6AcceptRA=no\n")
        # Like a cloud's package mirror, the image's apt reaches the archive through the router.
        (self.merged / "etc/apt/apt.conf.d/90cloudtap-boot-proxy").write_text(
            f'Acquire::http::Proxy "http://{interface.router}:{PROXY_PORT}/";\n'
        )

    # -- network ---------------------------------------------------------------------------

    def _add_network(self) -> None:
        prefix = self.interface.address.network.prefixlen
        for namespace in (self.netns, self.router_netns):
            _run(["ip", "netns", "add", namespace])
        _run(
            [
                "ip",
                "link",
                "add",
                "name",
                self.interface.name,
                "netns",
                self.netns,
                "address",
                self.interface.mac,
                "type",
                "veth",
                "peer",
                "name",
                "vpc0",
                "netns",
                self.router_netns,
            ]
        )
        router = ["ip", "-n", self.router_netns]
        _run([*router, "addr", "add", f"{self.interface.router}/{prefix}", "dev", "vpc0"])
        _run([*router, "link", "set", "vpc0", "up"])
        _run([*router, "link", "set", "lo", "up"])
        self._socat = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.router_netns,
                "socat",
                f"TCP-LISTEN:{PROXY_PORT},bind={self.interface.router},reuseaddr,fork",
                f"UNIX-CONNECT:{self.proxy_socket}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _remove_network(self) -> None:
        if self._socat is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._socat.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._socat.wait(timeout=5)
            self._socat = None
        for namespace in (self.netns, self.router_netns):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)

    # -- boot ------------------------------------------------------------------------------

    def boot(self, timeout: float = 240.0) -> None:
        """Start the container and wait until systemd has finished starting up."""
        self._add_network()
        self.boots += 1
        with self.console_log.open("ab") as console:
            console.write(f"\n==== boot {self.boots} ====\n".encode())
            console.flush()
            self._nspawn = subprocess.Popen(
                [
                    "systemd-nspawn",
                    "--boot",
                    f"--directory={self.merged}",
                    f"--machine={self.name}",
                    "--register=no",
                    "--keep-unit",
                    f"--network-namespace-path=/run/netns/{self.netns}",
                    "--capability=CAP_NET_ADMIN",
                    "--resolv-conf=off",
                    "--timezone=off",
                    "--link-journal=no",
                    "--console=read-only",
                    *[f"--bind={device}" for device in self.devices],
                    *([f"--bind-ro={self.directory / 'disk'}:/dev/disk"] if self.devices else []),
                ],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env={**os.environ, "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"},
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        state = ""
        while (remaining := deadline - time.monotonic()) > 0:
            if self._nspawn.poll() is not None:
                raise BootError(
                    f"systemd-nspawn exited {self._nspawn.returncode}: {self.console()}"
                )
            if self._leader() is not None:
                # Fails until systemd listens; then blocks until the start-up jobs are done.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    result = self.run(
                        "systemctl", "is-system-running", "--wait", check=False, timeout=remaining
                    )
                    state = result.stdout.strip()
                    if state in ("running", "degraded"):
                        return
            time.sleep(0.5)
        raise BootError(f"not booted after {timeout:.0f}s (state {state!r}): {self.console()}")

    def _leader(self) -> int | None:
        """The container's PID 1 (systemd), as a host process id."""
        if self._nspawn is None:
            return None
        with contextlib.suppress(OSError):
            for children in Path(f"/proc/{self._nspawn.pid}/task").glob("*/children"):
                for pid in children.read_text().split():
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                        return int(pid)
        return None

    def run(
        self, *argv: str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` inside the container, in all of its namespaces, with a clean environment."""
        leader = self._leader()
        if leader is None:
            raise BootError(f"{self.name} is not running")
        enter = ["nsenter", f"--target={leader}", "--all", "--root", "--wd", "--"]
        result = subprocess.run(
            [*enter, "env", "-i", f"PATH={CONTAINER_PATH}", "LANG=C.UTF-8", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise BootError(
                f"{' '.join(argv)} exited {result.returncode} in {self.name}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    def _wait_for_exit(self, timeout: float) -> int:
        assert self._nspawn is not None
        try:
            return self._nspawn.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self._nspawn.pid, signal.SIGKILL)
            self._nspawn.wait(timeout=10)
            raise BootError(f"{self.name} did not stop within {timeout:.0f}s") from None
        finally:
            self._nspawn = None
            self._remove_network()

    def reboot(self, timeout: float = 240.0) -> None:
        """``systemctl reboot`` inside, then boot again from the same disk on new devices."""
        self.run("systemctl", "reboot", check=False)
        status = self._wait_for_exit(60.0)
        if status != REBOOT_STATUS:
            raise BootError(f"systemctl reboot: nspawn exited {status}, not {REBOOT_STATUS}")
        self.boot(timeout)

    def console(self, lines: int = 60) -> str:
        """The end of the console output, for failure messages."""
        with contextlib.suppress(OSError):
            text = self.console_log.read_text(errors="replace")
            return "\n" + "\n".join(text.splitlines()[-lines:])
        return ""

    def close(self) -> None:
        """Power off (SIGTERM makes nspawn shut the container down), then remove everything."""
        try:
            if self._nspawn is not None:
                with contextlib.suppress(ProcessLookupError):
                    self._nspawn.terminate()
                with contextlib.suppress(BootError):
                    self._wait_for_exit(60.0)
        finally:
            self._remove_network()
            if self._mounted:
                if subprocess.run(["umount", str(self.merged)], check=False).returncode != 0:
                    subprocess.run(["umount", "-l", str(self.merged)], check=False)
                self._mounted = False
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
