"""Sample hosts, guests and boot settings for the CLI's what-if commands and for docs.

Kept apart from the CLI so a demo fleet is data, not code paths: the commands stay the same when the
samples change, and tests or notebooks can reuse the same fleet.
"""

from __future__ import annotations

from .boot import BootConfig
from .evacuation import FreeCapacity
from .io import AccessRule
from .spec import PROFILES, GuestSpec, HostSpec

__all__ = ["demo_boot_config", "demo_evacuation", "sample_guest"]


def sample_guest(os_family: str, vcpus: int, memory_mib: int) -> GuestSpec:
    """A typical guest of each OS family (Windows is neither PV-aware nor open source)."""
    if os_family == "windows":
        return GuestSpec(vcpus, memory_mib, 40, "windows", "Windows Server 2022", "nt-10.0", pv_aware=False,
                         open_source_kernel=False)
    if os_family == "bsd":
        return GuestSpec(vcpus, memory_mib, 20, "bsd", "FreeBSD 13.2", "freebsd-13.2")
    return GuestSpec(vcpus, memory_mib)


def demo_boot_config() -> BootConfig:
    """Network, access rules, a key and user data, so every boot stage has something to print."""
    return BootConfig(
        hostname="demo-1", mac="52:54:00:12:34:56", ip="10.0.0.5", gateway="10.0.0.1", dns=("10.0.0.2",),
        access_rules=(AccessRule("tcp", 22, 22, "0.0.0.0/0"), AccessRule("tcp", 443, 443, "0.0.0.0/0")),
        ssh_public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyDemoKeyDemoKeyDemoKeyDemoKey demo@skyport",
        user_data="#cloud-config\npackages: [nginx]\n",
    )


def demo_evacuation() -> tuple[HostSpec, list[tuple[HostSpec, FreeCapacity]], list[tuple[str, GuestSpec, str]]]:
    """A host to drain, three destinations (one without VT-x) and seven guests, one of them SR-IOV."""
    source = HostSpec("h-01", hypervisor_version="1.0")
    destinations = [
        (HostSpec("h-02"), FreeCapacity(vcpus=16, memory_mib=24576)),
        (HostSpec("h-03"), FreeCapacity(vcpus=16, memory_mib=16384)),
        (HostSpec("h-04", cpu_features=frozenset({"lm"})), FreeCapacity(vcpus=32, memory_mib=65536)),
    ]
    guests = [
        ("db-1", GuestSpec(8, 16384, workload=PROFILES["database"]), "hardware_assisted"),
        ("web-1", GuestSpec(2, 4096, workload=PROFILES["web_server"]), "hardware_assisted"),
        ("web-2", GuestSpec(2, 4096, workload=PROFILES["web_server"]), "hardware_assisted"),
        ("batch-1", GuestSpec(4, 8192, workload=PROFILES["compile"]), "hardware_assisted"),
        ("idle-1", GuestSpec(1, 2048, workload=PROFILES["idle"]), "paravirtualization"),
        ("big-1", GuestSpec(16, 32768, workload=PROFILES["cpu_bound"]), "hardware_assisted"),
        ("nfv-1", GuestSpec(4, 4096, nic="sriov"), "hardware_assisted"),
    ]
    return source, destinations, guests
