"""Demo data for `make run`: a marketplace of classic appliances, EC2-like sizes, a mixed fleet."""
from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Appliance, Host, InstanceType, stable_public_id

FULL = ["hardware_assisted", "paravirtualization", "binary_translation", "emulation"]
CLOSED = ["hardware_assisted", "binary_translation", "emulation"]  # no hypercalls from a closed kernel

# (slug, name, vendor, os_family, os_name, os_version, kernel, arch, stack, category, tags, image MiB,
#  min vCPU, min MiB, min GiB disk, modes, pv_aware, open_source, default user, description)
APPLIANCES = [
    ("ubuntu-22-04", "Ubuntu Server 22.04 LTS", "Canonical", "linux", "Ubuntu Server", "22.04", "linux-5.15",
     "x86_64", "", "os", ["ubuntu", "lts", "server"], 2048, 1, 512, 8, FULL, True, True, "ubuntu",
     "Minimal Ubuntu server with cloud-init, OpenSSH and unattended upgrades."),
    ("ubuntu-lamp", "Ubuntu LAMP", "Skyport", "linux", "Ubuntu Server", "22.04", "linux-5.15", "x86_64",
     "Apache 2.4, MySQL 8.0, PHP 8.1", "web", ["lamp", "apache", "mysql", "php"], 3072, 1, 1024, 10, FULL,
     True, True, "ubuntu", "The classic LAMP stack, ready to serve PHP applications on port 80."),
    ("debian-12", "Debian 12 Bookworm", "Debian", "linux", "Debian GNU/Linux", "12", "linux-6.1", "x86_64", "",
     "os", ["debian", "server"], 1536, 1, 512, 8, FULL, True, True, "admin",
     "Stable Debian server image with cloud-init."),
    ("windows-server-2003", "Windows Server 2003 R2", "Microsoft", "windows", "Windows Server", "2003 R2 SP2", "nt-5.2",
     "i386", "IIS 6.0", "os", ["windows", "legacy", "iis", "32-bit"], 4096, 1, 1024, 20, CLOSED, False, False,
     "Administrator", "32-bit Windows Server 2003 R2 Standard for legacy line-of-business applications."),
    ("windows-server-2019", "Windows Server 2019 Datacenter", "Microsoft", "windows", "Windows Server", "2019",
     "nt-10.0", "x86_64", "IIS 10", "os", ["windows", "iis"], 10240, 2, 4096, 40, CLOSED, False, False,
     "Administrator", "Windows Server 2019 Datacenter with Desktop Experience."),
    ("suse-sles-11-32", "SUSE Linux Enterprise Server 11 (32-bit)", "SUSE", "linux", "SUSE Linux Enterprise Server",
     "11 SP4", "linux-3.0-xen", "i386", "", "os", ["suse", "sles", "32-bit", "legacy"], 2560, 1, 512, 10,
     ["paravirtualization", "hardware_assisted", "binary_translation", "emulation"], True, True, "root",
     "32-bit SLES 11 with a Xen-aware kernel: paravirtualized by design."),
    ("centos-7-lemp", "CentOS 7 LEMP", "Skyport", "linux", "CentOS", "7.9", "linux-3.10", "x86_64",
     "Nginx, MariaDB, PHP-FPM", "web", ["lemp", "nginx", "mariadb", "php"], 2560, 1, 1024, 10, FULL, True, True,
     "centos", "Nginx, MariaDB and PHP-FPM on CentOS 7."),
    ("wordpress", "WordPress 6 on Ubuntu", "Bitnami", "linux", "Ubuntu Server", "22.04", "linux-5.15", "x86_64",
     "WordPress 6, Apache, MySQL", "cms", ["wordpress", "blog", "cms"], 3584, 1, 1024, 10, FULL, True, True,
     "bitnami", "Pre-configured WordPress: open port 80 and finish the install wizard."),
    ("postgresql-16", "PostgreSQL 16 on Debian", "Skyport", "linux", "Debian GNU/Linux", "12", "linux-6.1",
     "x86_64", "PostgreSQL 16", "database", ["postgresql", "sql", "database"], 2048, 2, 2048, 20, FULL, True,
     True, "admin", "PostgreSQL 16 tuned for the instance's memory; listens on 5432."),
    ("mysql-8", "MySQL 8 on Ubuntu", "Oracle", "linux", "Ubuntu Server", "22.04", "linux-5.15", "x86_64",
     "MySQL 8.0", "database", ["mysql", "sql", "database"], 2304, 1, 2048, 20, FULL, True, True, "ubuntu",
     "MySQL 8.0 community server; listens on 3306."),
    ("nginx-alpine-container", "Nginx (Alpine container)", "Skyport", "linux", "Alpine Linux", "3.20", "",
     "x86_64", "Nginx 1.26", "container", ["container", "nginx", "alpine"], 64, 1, 128, 1, ["container"], True,
     True, "root", "An OS-level container sharing the host kernel: starts in about a second."),
    ("redis-container", "Redis 7 (container)", "Skyport", "linux", "Alpine Linux", "3.20", "", "x86_64", "Redis 7",
     "container", ["container", "redis", "cache"], 48, 1, 256, 1, ["container"], True, True, "root",
     "Redis in an OS-level container."),
    ("freebsd-14", "FreeBSD 14", "FreeBSD Project", "bsd", "FreeBSD", "14.1", "freebsd-14", "x86_64", "",
     "os", ["bsd", "zfs"], 1792, 1, 1024, 10, CLOSED, False, True, "freebsd", "FreeBSD 14 with ZFS root."),
    ("docker-host", "Docker host (Ubuntu)", "Skyport", "linux", "Ubuntu Server", "22.04", "linux-5.15", "x86_64",
     "Docker Engine 27", "devops", ["docker", "containers"], 2560, 2, 2048, 20, FULL, True, True, "ubuntu",
     "Ubuntu with Docker Engine and Compose."),
    ("gitlab-ce", "GitLab CE", "GitLab", "linux", "Ubuntu Server", "22.04", "linux-5.15", "x86_64", "GitLab 17",
     "devops", ["git", "ci"], 6144, 4, 8192, 50, FULL, True, True, "ubuntu", "Self-hosted GitLab Community Edition."),
    ("ubuntu-14-04-32", "Ubuntu 14.04 (32-bit)", "Canonical", "linux", "Ubuntu Server", "14.04", "linux-3.13",
     "i386", "", "os", ["ubuntu", "32-bit", "legacy"], 1024, 1, 512, 8, FULL, True, True, "ubuntu",
     "Legacy 32-bit Ubuntu for old software."),
]

INSTANCE_TYPES = [
    ("t3.nano", 1, 512, 8, "burstable, smallest"),
    ("t3.micro", 1, 1024, 8, "burstable"),
    ("t3.small", 2, 2048, 20, "burstable"),
    ("t3.medium", 2, 4096, 40, "burstable"),
    ("m5.large", 2, 8192, 50, "general purpose"),
    ("m5.xlarge", 4, 16384, 100, "general purpose"),
    ("c5.2xlarge", 8, 16384, 100, "compute optimised"),
    ("r5.2xlarge", 8, 65536, 200, "memory optimised"),
    ("m5.4xlarge", 16, 65536, 200, "general purpose, large"),
]

# (count, cpu_model, features, sockets, cores, threads, memory GiB, disk GiB, nic MiB/s)
HOST_PROFILES = [
    (6, "Intel Xeon Gold 6338 (Ice Lake)", ["vmx", "ept", "lm", "sse4_2", "avx2"], 2, 16, 2, 256, 4000, 1250.0),
    (5, "AMD EPYC 7543 (Milan)", ["svm", "npt", "lm", "sse4_2", "avx2"], 2, 16, 2, 256, 4000, 1250.0),
    (4, "Intel Xeon E5-2680 v2 (Ivy Bridge)", ["vmx", "ept", "lm", "sse4_2"], 2, 10, 2, 128, 2000, 1250.0),
    (3, "Intel Xeon X5670 (Westmere, VT-x off in BIOS)", ["lm", "sse4_2"], 2, 6, 2, 96, 1000, 125.0),
    (2, "Intel Xeon 5160 (Woodcrest)", ["vmx", "lm"], 2, 2, 1, 32, 500, 125.0),
]


def host_modes(features: list[str]) -> list[str]:
    modes = ["binary_translation", "paravirtualization", "emulation", "container"]
    if {"vmx", "svm"} & set(features):
        modes.insert(0, "hardware_assisted")
    return modes


@transaction.atomic
def demo_seed(*, with_users: bool = True) -> dict:
    """Idempotent: creates what is missing, updates nothing a user may have changed."""
    made = {"appliances": 0, "instance_types": 0, "hosts": 0, "users": 0}
    for row in APPLIANCES:
        (slug, name, vendor, fam, osn, ver, kernel, arch, stack, cat, tags, size, mv, mm, md, modes, pv, oss, user,
         desc) = row
        _, created = Appliance.objects.get_or_create(slug=slug, defaults=dict(
            public_id=stable_public_id("ami", slug), name=name, vendor=vendor, os_family=fam, os_name=osn,
            os_version=ver, kernel=kernel, architecture=arch, stack=stack, category=cat, tags=tags,
            image_size_mib=size, min_vcpus=mv, min_memory_mib=mm, min_disk_gib=md, supported_modes=modes,
            pv_aware=pv, open_source_kernel=oss, default_user=user, description=desc,
        ))
        made["appliances"] += created
    for name, vcpus, mem, disk, desc in INSTANCE_TYPES:
        _, created = InstanceType.objects.get_or_create(
            name=name, defaults=dict(vcpus=vcpus, memory_mib=mem, disk_gib=disk, description=desc))
        made["instance_types"] += created
    index = 0
    for count, model, features, sockets, cores, threads, mem_gib, disk_gib, nic in HOST_PROFILES:
        for _ in range(count):
            index += 1
            zone = "sky-1a" if index % 2 else "sky-1b"
            _, created = Host.objects.get_or_create(name=f"hv-{index:02d}", defaults=dict(
                availability_zone=zone, cpu_model=model, cpu_features=features, supported_modes=host_modes(features),
                sockets=sockets, cores_per_socket=cores, threads_per_core=threads, memory_mib=mem_gib * 1024,
                disk_gib=disk_gib, disk_mibps=800.0 if disk_gib >= 2000 else 250.0, nic_mibps=nic,
                hypervisor_version="7.0.3" if "ept" in features or "npt" in features else "6.5.0",
                network_cidr=f"10.{1 if zone == 'sky-1a' else 2}.{index}.0/24",
            ))
            made["hosts"] += created
    if with_users:
        User = get_user_model()
        demo_pw = os.environ.get("SKYPORT_DEMO_PASSWORD", "demo")
        admin_pw = os.environ.get("SKYPORT_ADMIN_PASSWORD", "admin")
        if not User.objects.filter(username="demo").exists():
            User.objects.create_user("demo", email="demo@example.com", password=demo_pw)
            made["users"] += 1
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", email="admin@example.com", password=admin_pw)
            made["users"] += 1
    return made
