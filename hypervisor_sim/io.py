"""Device and I/O virtualization, shared host bandwidth, and the virtual switch.

Three ways to give a guest a NIC or a disk, from most to least hypervisor work per operation:
an emulated device (the hypervisor mimics real hardware register by register: many traps per
packet), a paravirtual virtio device (shared rings, one notification per batch), and SR-IOV
passthrough (a PCI virtual function mapped into the guest: near native, but it pins the guest to
the host, so it cannot be live-migrated). Guests share the host's NIC and disk bandwidth
max-min fairly. Each vNIC plugs into a VirtualSwitch port whose rules are the guest's access
rules (EC2 security-group semantics: inbound is denied unless a rule allows it).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from .spec import HostSpec

__all__ = [
    "DEVICE_MODELS",
    "PROTOCOLS",
    "AccessRule",
    "DeviceModel",
    "DevicePerformance",
    "Port",
    "RuleDecision",
    "VirtualSwitch",
    "device_performance",
    "share_bandwidth",
]


@dataclass(frozen=True)
class DeviceModel:
    """Constants of one device kind; efficiency is the share of the host link it can drive."""

    kind: str
    efficiency: float
    latency_us: float
    cpu_us_per_op: float
    migratable: bool
    source: str


# Figures are typical of KVM/Xen measurements on 10 GbE (e.g. Menon et al. 2005; Dong et al.,
# "High performance network virtualization with SR-IOV", HPCA 2010; virtio-net vs e1000 in the
# KVM/QEMU documentation): the ordering and rough ratios matter, not the decimals.
DEVICE_MODELS: dict[str, DeviceModel] = {
    "emulated": DeviceModel("emulated", 0.30, 60.0, 25.0, True,
                            "e1000/IDE emulation: several register traps per packet or request"),
    "virtio": DeviceModel("virtio", 0.90, 25.0, 5.0, True,
                          "virtio rings: one notification per batch, interrupt coalescing"),
    "sriov": DeviceModel("sriov", 0.98, 8.0, 1.0, False,
                         "SR-IOV virtual function via IOMMU: DMA straight into the guest"),
}


@dataclass(frozen=True)
class DevicePerformance:
    kind: str
    device: str
    throughput_mibps: float
    latency_us: float
    cpu_us_per_op: float
    migratable: bool


def device_performance(kind: str, device: str, host: HostSpec) -> DevicePerformance:
    """Throughput, latency and CPU cost of a virtual NIC or disk of `kind` on `host`."""
    try:
        model = DEVICE_MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown device kind {kind!r}; expected emulated, virtio or sriov") from None
    if device == "nic":
        link = host.nic_mibps
    elif device == "disk":
        link = host.disk_mibps
    else:
        raise ValueError("device must be 'nic' or 'disk'")
    return DevicePerformance(kind, device, link * model.efficiency, model.latency_us, model.cpu_us_per_op,
                             model.migratable)


def share_bandwidth(capacity_mibps: float, demands: list[float] | int) -> list[float]:
    """Split a link max-min fairly (water-filling) between demands.

    An int n means n greedy users (each gets capacity / n). Users wanting less than an equal share
    get what they want; the rest is split evenly among the others.
    """
    if capacity_mibps <= 0:
        raise ValueError("capacity must be positive")
    if isinstance(demands, int):
        if demands < 1:
            raise ValueError("need at least one user")
        return [capacity_mibps / demands] * demands
    alloc = [0.0] * len(demands)
    pending = sorted(range(len(demands)), key=lambda i: demands[i])
    left = capacity_mibps
    while pending:
        share = left / len(pending)
        i = pending[0]
        if demands[i] <= share:
            alloc[i] = max(0.0, demands[i])
            left -= alloc[i]
            pending.pop(0)
        else:
            for j in pending:
                alloc[j] = share
            break
    return alloc


# --------------------------------------------------------------------------------------------
# Access rules and the virtual switch
# --------------------------------------------------------------------------------------------

PROTOCOLS = ("tcp", "udp", "icmp", "-1")


@dataclass(frozen=True)
class AccessRule:
    """One inbound allow rule (EC2 security-group style); protocol "-1" means all traffic.

    For icmp, from_port/to_port are the ICMP type range (-1 = any), as in EC2.
    """

    protocol: str
    from_port: int
    to_port: int
    cidr: str

    def __post_init__(self) -> None:
        proto = str(self.protocol).lower()
        if proto == "all":
            proto = "-1"
        if proto not in PROTOCOLS:
            raise ValueError(f"protocol must be one of tcp, udp, icmp, -1; got {self.protocol!r}")
        object.__setattr__(self, "protocol", proto)
        low = -1 if proto in ("icmp", "-1") else 0
        for p in (self.from_port, self.to_port):
            if not low <= p <= 65535:
                raise ValueError(f"port {p} out of range for {proto}")
        if self.from_port > self.to_port:
            raise ValueError(f"from_port {self.from_port} is above to_port {self.to_port}")
        try:
            net = ipaddress.ip_network(self.cidr, strict=False)
        except ValueError as exc:
            raise ValueError(f"invalid CIDR {self.cidr!r}: {exc}") from None
        object.__setattr__(self, "cidr", str(net))

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr)

    def matches(self, protocol: str, port: int, source_ip: str) -> bool:
        """True if this rule admits a packet of `protocol` to `port` from `source_ip`."""
        proto = protocol.lower()
        if self.protocol != "-1" and self.protocol != proto:
            return False
        if self.protocol != "-1" and not (self.from_port == -1 or self.from_port <= port <= self.to_port):
            return False
        src = ipaddress.ip_address(source_ip)
        net = self.network
        return src.version == net.version and src in net

    def describe(self) -> str:
        if self.protocol == "-1":
            what = "all traffic"
        elif self.from_port == self.to_port:
            what = f"{self.protocol} {self.from_port}"
        else:
            what = f"{self.protocol} {self.from_port}-{self.to_port}"
        return f"allow {what} from {self.cidr}"

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "from_port": self.from_port, "to_port": self.to_port,
                "cidr": self.cidr}


@dataclass(frozen=True)
class RuleDecision:
    allowed: bool
    rule: AccessRule | None
    reason: str


@dataclass
class Port:
    """A vSwitch port: one vNIC with its MAC, IP and inbound rules."""

    name: str
    mac: str
    ip: str
    rules: tuple[AccessRule, ...] = ()


@dataclass
class VirtualSwitch:
    """A host's virtual switch; enforces each port's rules on inbound traffic."""

    name: str = "vswitch0"
    ports: dict[str, Port] = field(default_factory=dict)

    def plug(self, mac: str, ip: str, rules: tuple[AccessRule, ...] = (), *, name: str | None = None) -> Port:
        """Attach a vNIC; ports get stable names vnet0, vnet1, ... in plug order."""
        port_name = name or f"vnet{len(self.ports)}"
        if port_name in self.ports:
            raise ValueError(f"port {port_name} already exists on {self.name}")
        if any(p.ip == ip for p in self.ports.values()):
            raise ValueError(f"IP {ip} is already plugged into {self.name}")
        port = Port(port_name, mac, ip, tuple(rules))
        self.ports[port_name] = port
        return port

    def unplug(self, port_name: str) -> None:
        self.ports.pop(port_name, None)

    def check(self, port_name: str, protocol: str, port: int, source_ip: str) -> RuleDecision:
        """Would an inbound packet be delivered to `port_name`? Default deny, first match allows."""
        try:
            target = self.ports[port_name]
        except KeyError:
            raise ValueError(f"no port {port_name} on {self.name}") from None
        for rule in target.rules:
            if rule.matches(protocol, port, source_ip):
                return RuleDecision(True, rule, f"{protocol}/{port} from {source_ip}: {rule.describe()}")
        return RuleDecision(False, None, f"{protocol}/{port} from {source_ip}: no rule allows it (default deny)")

    def deliver_to_ip(self, dest_ip: str, protocol: str, port: int, source_ip: str) -> RuleDecision:
        """Route by destination IP, then apply that port's rules."""
        for p in self.ports.values():
            if p.ip == dest_ip:
                return self.check(p.name, protocol, port, source_ip)
        return RuleDecision(False, None, f"no port with IP {dest_ip} on {self.name}")
