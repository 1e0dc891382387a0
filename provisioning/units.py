"""Sizes as people read them: the one place that turns MiB into words.

Every message, page, API explanation and command prints memory through `mib_label`, so a quota
refusal, the launch form and the placement explanation never disagree about "1.5 GiB".
"""
from __future__ import annotations


def mib_label(mib: float, *, gib_only: bool = False) -> str:
    """512 -> '512 MiB', 1536 -> '1.5 GiB', 10240 -> '10 GiB'; `gib_only` gives '0.5 GiB' for 512."""
    mib = max(0, mib)
    if mib < 1024 and not gib_only:
        return f"{mib:g} MiB"
    return f"{mib / 1024:.2f}".rstrip("0").rstrip(".") + " GiB"


def size_label(vcpus: int, memory_mib: int, disk_gib: int | None = None) -> str:
    """'2 vCPU / 4 GiB memory / 40 GiB disk' (disk left out when None)."""
    out = f"{vcpus} vCPU / {mib_label(memory_mib, gib_only=True)} memory"
    return out if disk_gib is None else f"{out} / {disk_gib} GiB disk"
