"""Boot plans: stages, their simulated durations, boot-time configuration and a console log.

A guest boots through firmware, boot loader, kernel, init, configuration (cloud-init style:
hostname, network, access rules on the vSwitch port, credentials, user data) and services. A
container has no firmware, boot loader or kernel of its own (it shares the host's), so it starts
at init. Native stage durations per OS family are scaled by the mode's slowdown for boot-like
work (cpu.relative_performance of the "boot" profile: emulation is slowest), by vCPUs and memory
where it matters (SMP bring-up, memory map init, parallel init), and jittered by +-5 % from the
seed only. Credentials are recorded by kind, never by value: the console and `applied` never
contain a password.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import random
import re
from dataclasses import dataclass, field

from .cpu import IncompatibleMode, check_compatibility, relative_performance
from .io import AccessRule, VirtualSwitch
from .spec import GuestSpec, HostSpec, VirtMode

__all__ = ["STAGES", "BootConfig", "BootPlan", "BootStage", "plan_boot"]

STAGES = ("firmware", "bootloader", "kernel", "init", "configure", "services")
CONTAINER_STAGES = ("init", "configure", "services")
JITTER = 0.05

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

# Native seconds per stage and OS family (a small cloud VM on virtio disks): typical of systemd
# Ubuntu cloud images (~5-10 s to login), Windows Server (~40-60 s incl. specialize), FreeBSD rc.
BASE_S = {
    "linux": {"firmware": 1.2, "bootloader": 0.8, "kernel": 1.2, "init": 3.0, "configure": 1.0, "services": 1.5},
    "windows": {"firmware": 2.5, "bootloader": 1.2, "kernel": 4.0, "init": 10.0, "configure": 6.0,
                "services": 5.0},
    "bsd": {"firmware": 1.2, "bootloader": 1.5, "kernel": 2.0, "init": 4.0, "configure": 1.2, "services": 2.0},
    "solaris": {"firmware": 1.2, "bootloader": 1.5, "kernel": 5.0, "init": 8.0, "configure": 1.5,
                "services": 4.0},
}
CONTAINER_S = {"init": 0.4, "configure": 0.3, "services": 0.5}


@dataclass(frozen=True)
class BootConfig:
    """Boot-time configuration the guest agent applies (validated on construction)."""

    hostname: str
    mac: str
    ip: str
    netmask: str = "255.255.255.0"
    gateway: str = ""
    dns: tuple[str, ...] = ()
    access_rules: tuple[AccessRule, ...] = ()
    ssh_public_key: str | None = None
    password: str | None = field(default=None, repr=False)
    user_data: str = ""
    # False on a restart: credentials were set at the first boot and are left as they are.
    first_boot: bool = True

    def __post_init__(self) -> None:
        host = self.hostname.lower().rstrip(".")
        if not host or len(host) > 253 or not all(_LABEL.match(p) for p in host.split(".")):
            raise ValueError(f"invalid hostname {self.hostname!r}")
        object.__setattr__(self, "hostname", host)
        mac = self.mac.lower().replace("-", ":")
        if not _MAC.match(mac):
            raise ValueError(f"invalid MAC address {self.mac!r}")
        object.__setattr__(self, "mac", mac)
        try:
            iface = ipaddress.IPv4Interface(f"{self.ip}/{self.netmask}")
        except ValueError as exc:
            raise ValueError(f"invalid IP/netmask {self.ip}/{self.netmask}: {exc}") from None
        if self.gateway:
            gw = ipaddress.IPv4Address(self.gateway)
            if gw not in iface.network:
                raise ValueError(f"gateway {gw} is outside {iface.network}")
        for d in self.dns:
            ipaddress.ip_address(d)
        object.__setattr__(self, "dns", tuple(self.dns))
        object.__setattr__(self, "access_rules", tuple(self.access_rules))

    @property
    def prefixlen(self) -> int:
        return ipaddress.IPv4Network(f"0.0.0.0/{self.netmask}").prefixlen


@dataclass(frozen=True)
class BootStage:
    name: str
    duration_s: float
    console: tuple[str, ...]


@dataclass(frozen=True)
class BootPlan:
    stages: tuple[BootStage, ...]
    total_s: float
    applied: dict

    @property
    def console(self) -> tuple[str, ...]:
        return tuple(line for s in self.stages for line in s.console)

    def to_dict(self) -> dict:
        return {"total_s": self.total_s, "applied": self.applied,
                "stages": [{"name": s.name, "duration_s": s.duration_s, "console": list(s.console)}
                           for s in self.stages]}


def _fingerprint(key: str) -> str:
    """OpenSSH-style SHA256 fingerprint of a public key line (falls back to hashing the text)."""
    parts = key.split()
    try:
        blob = base64.b64decode(parts[1], validate=True) if len(parts) > 1 else key.encode()
    except ValueError:
        blob = key.encode()
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _default_user(guest: GuestSpec) -> str:
    if guest.os_family == "windows":
        return "Administrator"
    word = (guest.os_name.split() or ["root"])[0].lower()
    return re.sub(r"[^a-z0-9]", "", word) or "root"


def _kernel_version(guest: GuestSpec) -> str:
    m = re.search(r"(\d+(?:\.\d+)*)", guest.kernel)
    ver = m.group(1) if m else "5.15"
    return ver + ".0" if ver.count(".") == 1 else ver


_HYPERVISOR_LINE = {
    VirtMode.HARDWARE_ASSISTED: "Hypervisor detected: KVM",
    VirtMode.PARAVIRTUALIZATION: "Booting paravirtualized kernel on Xen PV",
    VirtMode.BINARY_TRANSLATION: "Hypervisor detected: VMware",
    VirtMode.EMULATION: "Booting paravirtualized kernel on bare hardware",
    VirtMode.CONTAINER: "",
}
_NIC_DRIVER = {"virtio": "virtio_net virtio0", "emulated": "e1000 0000:00:03.0", "sriov": "ixgbevf 0000:00:05.0"}


def _durations(host: HostSpec, guest: GuestSpec, mode: VirtMode, config: BootConfig, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    slow = 1.0 / relative_performance("boot", mode, host=host)
    gib = guest.memory_mib / 1024
    par = 1.0 + 0.25 * (min(guest.vcpus, 8) - 1)  # init runs units in parallel, with diminishing returns
    if mode is VirtMode.CONTAINER:
        base = dict(CONTAINER_S)
    else:
        base = dict(BASE_S[guest.os_family])
        base["firmware"] += 0.02 * gib  # memory map/zeroing before the boot loader
        base["kernel"] += 0.08 * guest.vcpus + 0.03 * gib  # SMP bring-up, struct page init
        base["init"] /= par
    base["configure"] += 0.05 * len(config.access_rules) + 0.01 * len(config.user_data.encode()) / 1024
    out = {}
    for name in STAGES:
        if name in base:
            out[name] = base[name] * slow * (1.0 + rng.uniform(-JITTER, JITTER))
    return out


def plan_boot(host: HostSpec, guest: GuestSpec, mode: VirtMode | str, config: BootConfig, *, seed: int = 0,
              vswitch: VirtualSwitch | None = None) -> BootPlan:
    """Plan a guest's boot on `host` in `mode` with its boot-time configuration.

    Raises IncompatibleMode (with reasons) if the compatibility matrix refuses the mode. If a
    `vswitch` is given the guest's port is plugged into it (so the caller can enforce rules);
    otherwise into a fresh switch.
    """
    mode = VirtMode.parse(mode)
    compat = check_compatibility(host, guest, mode)
    if not compat.ok:
        raise IncompatibleMode(compat.reasons)
    switch = vswitch if vswitch is not None else VirtualSwitch()
    port = switch.plug(config.mac, config.ip, config.access_rules)
    durations = _durations(host, guest, mode, config, seed)

    user = _default_user(guest)
    if not config.first_boot:
        credential, cred_line = "unchanged", f"Credentials for {user} unchanged (set at first boot)"
    elif guest.os_family == "windows":
        if config.password or config.ssh_public_key:
            credential = "password"
            cred_line = "Generated password for Administrator" + (
                " (encrypted with the key pair)" if config.ssh_public_key else "")
        else:
            credential, cred_line = "none", "No password supplied: Administrator account stays locked"
    elif config.ssh_public_key:
        credential = "ssh_key"
        cred_line = f"Authorized SSH key for {user}: {_fingerprint(config.ssh_public_key)}"
    elif config.password:
        credential, cred_line = "password", f"Set password for {user}"
    else:
        credential, cred_line = "none", f"No SSH key or password supplied: {user} can only log in on the console"

    rules = [r.describe() for r in config.access_rules]
    applied = {
        "hostname": config.hostname,
        "mac": config.mac,
        "ip": config.ip,
        "netmask": config.netmask,
        "prefixlen": config.prefixlen,
        "gateway": config.gateway,
        "dns": list(config.dns),
        "access_rules": [r.to_dict() for r in config.access_rules],
        "credential": credential,
        "login_user": user,
        "ssh_key_fingerprint": _fingerprint(config.ssh_public_key) if config.ssh_public_key else None,
        "password_set": bool(config.password),
        "user_data_bytes": len(config.user_data.encode()),
        "vswitch_port": {"switch": switch.name, "port": port.name, "mac": port.mac, "ip": port.ip,
                         "rules": rules},
        "mode": mode.value,
        "host": host.name,
    }

    consoles = _console(host, guest, mode, config, durations, port.name, rules, cred_line)
    stages = tuple(BootStage(n, durations[n], consoles[n]) for n in STAGES if n in durations)
    return BootPlan(stages, sum(s.duration_s for s in stages), applied)


def _console(host: HostSpec, guest: GuestSpec, mode: VirtMode, cfg: BootConfig, dur: dict[str, float],
             port: str, rules: list[str], cred_line: str) -> dict[str, tuple[str, ...]]:
    fam = guest.os_family
    out: dict[str, tuple[str, ...]] = {}
    cidr = f"{cfg.ip}/{cfg.prefixlen}"
    # NT 5.x (Windows 2000/XP/2003) and 32-bit guests predate UEFI: BIOS + NTLDR, not Boot Manager.
    legacy_nt = fam == "windows" and (guest.arch == "i386" or guest.kernel.startswith("nt-5"))
    if "firmware" in dur:
        if fam == "windows" and not legacy_nt:
            out["firmware"] = ("UEFI firmware (TianoCore EDK II)", f"{guest.memory_mib} MiB RAM, {guest.vcpus} vCPU",
                               'BdsDxe: loading Boot0001 "Windows Boot Manager"')
        else:
            out["firmware"] = ("SeaBIOS (version 1.16.2)", f"{guest.memory_mib} MiB RAM, {guest.vcpus} vCPU",
                               "Booting from Hard Disk...")
        if legacy_nt:
            boot_ini = f'multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS="{guest.os_name}"'
            out["bootloader"] = ("NTLDR: reading boot.ini", boot_ini, "Loading ntoskrnl.exe, hal.dll")
        elif fam == "windows":
            out["bootloader"] = ("Windows Boot Manager", r"Loading \Windows\system32\winload.efi")
        elif fam == "bsd":
            out["bootloader"] = ("FreeBSD/x86 bootstrap loader", "Loading /boot/kernel/kernel")
        elif fam == "solaris":
            out["bootloader"] = ("GNU GRUB  version 2.02", "Loading /platform/i86pc/kernel/amd64/unix")
        else:
            ver = _kernel_version(guest)
            out["bootloader"] = ("GNU GRUB  version 2.06", f"Loading Linux {ver}-generic ...",
                                 "Loading initial ramdisk ...")
        out["kernel"] = _kernel_console(guest, mode, dur["kernel"])
    name = guest.os_name
    if fam == "windows":
        out["init"] = ("Starting Windows", "Applying computer settings", "Starting services")
    elif fam in ("bsd", "solaris") and mode is not VirtMode.CONTAINER:
        out["init"] = (f"Starting {name}", "Mounting local filesystems", "Starting network")
    else:
        out["init"] = ("systemd[1]: systemd 249 running in system mode", f"Welcome to {name}!",
                       "[  OK  ] Started Journal Service.", "[  OK  ] Reached target Local File Systems.",
                       "[  OK  ] Started Network Configuration.")
    agent = "cloudbase-init" if fam == "windows" else "cloud-init"
    conf = [f"{agent}: Set hostname to {cfg.hostname}",
            f"{agent}: eth0: {cfg.mac} {cidr}" + (f" gw {cfg.gateway}" if cfg.gateway else "")]
    if cfg.dns:
        conf.append(f"{agent}: DNS servers {', '.join(cfg.dns)}")
    conf.append(f"vswitch0 port {port}: {len(rules)} access rule(s)" + (f": {'; '.join(rules)}" if rules else
                                                                         " (all inbound traffic denied)"))
    conf.append(f"{agent}: {cred_line}")
    if cfg.user_data:
        conf.append(f"{agent}: user-data {len(cfg.user_data.encode())} bytes, running scripts")
    out["configure"] = tuple(conf)
    if fam == "windows":
        out["services"] = ("Remote Desktop Services listening on 3389", f"{cfg.hostname}: Windows is ready to use")
    else:
        out["services"] = ("[  OK  ] Started OpenBSD Secure Shell server.",
                           "[  OK  ] Reached target Multi-User System.",
                           "", f"{name} {cfg.hostname} ttyS0", "", f"{cfg.hostname} login:")
    return out


def _kernel_console(guest: GuestSpec, mode: VirtMode, duration: float) -> tuple[str, ...]:
    fam = guest.os_family
    hv = _HYPERVISOR_LINE[mode]
    if fam == "windows":
        lines = (f"Starting {guest.os_name} kernel (ntoskrnl.exe)", hv,
                 f"Detected {guest.vcpus} processors, {guest.memory_mib} MB memory")
        return tuple(line for line in lines if line)
    if fam != "linux":
        lines = (f"{guest.os_name} ({guest.kernel}) {guest.arch}", hv,
                 f"real memory = {guest.memory_mib * 1024 * 1024}", f"CPUs: {guest.vcpus}")
        return tuple(line for line in lines if line)
    ver = _kernel_version(guest)
    nic = _NIC_DRIVER[guest.nic]

    def ts(frac: float) -> str:
        return f"[{duration * frac:12.6f}]"

    blocks = guest.disk_gib * 1024 * 1024 * 2
    return (
        f"{ts(0)} Linux version {ver}-generic (buildd@skyport) (gcc 11.4.0) #1 SMP",
        f"{ts(0)} Command line: BOOT_IMAGE=/vmlinuz-{ver} root=/dev/vda1 ro console=ttyS0",
        f"{ts(0)} {hv}",
        f"{ts(0.05)} Memory: {guest.memory_mib * 1024}K available",
        f"{ts(0.2)} smpboot: Allowing {guest.vcpus} CPUs, 0 hotplug CPUs",
        f"{ts(0.7)} virtio_blk virtio1: [vda] {blocks} 512-byte logical blocks ({guest.disk_gib} GiB)",
        f"{ts(0.8)} {nic} eth0: link up",
        f"{ts(1.0)} Run /init as init process",
    )
