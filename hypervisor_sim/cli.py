"""Command line for what-if analysis: migrate, compare-modes, boot, evacuate.

Bad input is an argparse error (exit status 2) with a message naming the option, so the CLI can
be scripted; everything printed is a function of the arguments and --seed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence

from .boot import plan_boot
from .cpu import COSTS, IncompatibleMode, check_compatibility, relative_performance
from .evacuation import plan_evacuation
from .migration import MigrationConfig, MigrationResult, precopy_closed_form, simulate_migration
from .samples import demo_boot_config, demo_evacuation, sample_guest
from .spec import PROFILES, GuestSpec, HostSpec, VirtMode

__all__ = ["build_parser", "main"]


def _number(convert: Callable[[str], float], article: str, noun: str, *,
            zero_ok: bool = False) -> Callable[[str], float]:
    """An argparse `type=` that parses a finite number above zero (or at least zero) and says what is wrong."""
    wanted = f"zero or a positive {noun}" if zero_ok else f"a positive {noun}"

    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {article} {noun}") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value

    return parse


_positive_float = _number(float, "a", "number")
_non_negative_float = _number(float, "a", "number", zero_ok=True)
_positive_int = _number(int, "an", "integer")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hypervisor_sim", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("migrate", help="simulate a pre-copy live migration round by round")
    m.add_argument("--memory-mib", type=_positive_int, required=True)
    m.add_argument("--bandwidth-mibps", type=_positive_float, required=True)
    m.add_argument("--dirty-rate-mibps", type=_non_negative_float, required=True)
    m.add_argument("--dirty-model", choices=("uniform", "wws"), default="uniform")
    m.add_argument("--downtime-limit-ms", type=_positive_float, default=300.0)
    m.add_argument("--max-rounds", type=_positive_int, default=30)
    m.add_argument("--max-total-factor", type=_positive_float, default=3.0)
    m.add_argument("--auto-converge", action="store_true")
    m.add_argument("--force-at-cap", action="store_true",
                   help="stop-and-copy at a cap instead of failing (Xen behaviour)")
    m.add_argument("--resume-ms", type=_non_negative_float, default=0.0)
    m.add_argument("--wws-fraction", type=_positive_float, default=0.1)
    m.add_argument("--device-state-mib", type=_non_negative_float, default=0.0)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--json", action="store_true", help="print the result as JSON")
    m.set_defaults(func=_cmd_migrate)

    c = sub.add_parser("compare-modes", help="relative performance of a workload under each mode")
    c.add_argument("--workload", choices=sorted(PROFILES), required=True)
    c.add_argument("--no-hw-virt", action="store_true", help="host without vmx/svm")
    c.add_argument("--no-nested-paging", action="store_true", help="host without EPT/NPT")
    c.add_argument("--vcpus", type=_positive_int, default=1)
    c.add_argument("--pcpus", type=_positive_int, default=1)
    c.add_argument("--overcommit", type=_positive_float, default=1.0)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_cmd_compare)

    b = sub.add_parser("boot", help="print the boot plan and console of a sample guest")
    b.add_argument("--os", choices=("linux", "windows", "bsd"), default="linux")
    b.add_argument("--mode", choices=[v.value for v in VirtMode], default=VirtMode.HARDWARE_ASSISTED.value)
    b.add_argument("--vcpus", type=_positive_int, default=2)
    b.add_argument("--memory-mib", type=_positive_int, default=4096)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_cmd_boot)

    e = sub.add_parser("evacuate", help="plan the evacuation of a demo host")
    e.add_argument("--concurrency", type=_positive_int, default=None)
    e.add_argument("--downtime-limit-ms", type=_positive_float, default=300.0)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_cmd_evacuate)
    return p


def _migration_table(res: MigrationResult) -> str:
    lines = [f"{'round':>5} {'sent MiB':>10} {'duration s':>10} {'dirty MiB':>10} {'dirty MiB/s':>11} "
             f"{'throttle %':>10}  phase"]
    for r in res.rounds:
        phase = "stop-and-copy" if r.stop_and_copy else "pre-copy"
        if r.aborted:
            phase += " (aborted)"
        lines.append(f"{r.round:>5} {r.sent_mib:>10.1f} {r.duration_s:>10.3f} {r.dirty_mib:>10.1f} "
                     f"{r.dirty_rate_mibps:>11.1f} {r.throttle_pct:>10.0f}  {phase}")
    lines.append("")
    lines.append(f"outcome: {res.outcome} ({res.converged_by or 'n/a'}); guest on the {res.guest_location}")
    lines.append(f"reason: {res.reason}")
    lines.append(f"downtime: {res.downtime_ms:.1f} ms   total: {res.total_mib:.1f} MiB in {res.total_s:.3f} s")
    return "\n".join(lines)


def _cmd_migrate(args: argparse.Namespace) -> int:
    cfg = MigrationConfig(
        memory_mib=args.memory_mib, bandwidth_mibps=args.bandwidth_mibps, dirty_rate_mibps=args.dirty_rate_mibps,
        dirty_model=args.dirty_model, downtime_limit_ms=args.downtime_limit_ms, max_rounds=args.max_rounds,
        max_total_factor=max(1.0, args.max_total_factor), auto_converge=args.auto_converge,
        on_cap="force" if args.force_at_cap else "abort", resume_ms=args.resume_ms,
        wws_fraction=min(1.0, args.wws_fraction), cpu_device_state_mib=args.device_state_mib, seed=args.seed,
    )
    res = simulate_migration(cfg)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
        return 0
    print(_migration_table(res))
    if cfg.dirty_model == "uniform" and cfg.dirty_rate_mibps < cfg.bandwidth_mibps:
        cf = precopy_closed_form(cfg.memory_mib, cfg.bandwidth_mibps, cfg.dirty_rate_mibps, cfg.downtime_limit_ms,
                                 resume_ms=cfg.resume_ms)
        print(f"closed form (Liu et al. 2011): n = {cf.n}, total {cf.total_mib:.1f} MiB, downtime "
              f"{cf.downtime_ms:.1f} ms")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    feats = {"lm"} | (set() if args.no_hw_virt else {"vmx"}) | (set() if args.no_nested_paging else {"ept"})
    host = HostSpec("what-if", cpu_features=frozenset(feats))
    guest = GuestSpec(vcpus=args.vcpus, memory_mib=4096, workload=PROFILES[args.workload])
    rows = []
    for mode in VirtMode:
        compat = check_compatibility(host, guest, mode)
        perf = relative_performance(args.workload, mode, host=host, vcpus=args.vcpus, pcpus=args.pcpus,
                                    overcommit=args.overcommit)
        rows.append({"mode": mode.value, "relative_performance": round(perf, 4), "supported": compat.ok,
                     "reasons": list(compat.reasons), "paging": COSTS[mode].paging})
    if args.json:
        print(json.dumps({"workload": args.workload, "modes": rows}, indent=2))
        return 0
    print(f"workload {args.workload} (1.00 = native)")
    for r in rows:
        bar = "#" * round(40 * min(1.0, r["relative_performance"]))
        note = "" if r["supported"] else f"  [refused: {'; '.join(r['reasons'])}]"
        print(f"  {r['mode']:<20} {r['relative_performance']:5.2f} {bar}{note}")
    return 0


def _cmd_boot(args: argparse.Namespace) -> int:
    host = HostSpec("h-01")
    guest = sample_guest(args.os, args.vcpus, args.memory_mib)
    try:
        plan = plan_boot(host, guest, args.mode, demo_boot_config(), seed=args.seed)
    except IncompatibleMode as exc:
        raise ValueError(f"{args.mode} cannot boot this guest: {exc}") from exc
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
        return 0
    print(f"boot plan: {guest.os_name}, {guest.vcpus} vCPU, {guest.memory_mib} MiB, mode {args.mode}")
    t = 0.0
    for stage in plan.stages:
        print(f"  {stage.name:<11} {stage.duration_s:6.2f} s  (starts at {t:6.2f} s)")
        t += stage.duration_s
    print(f"  total       {plan.total_s:6.2f} s\n\nconsole:")
    for line in plan.console:
        print(f"  {line}")
    return 0


def _cmd_evacuate(args: argparse.Namespace) -> int:
    source, dests, guests = demo_evacuation()
    plan = plan_evacuation(source, guests, dests, per_host_concurrency=args.concurrency,
                           downtime_limit_ms=args.downtime_limit_ms, seed=args.seed)
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
        return 0
    print(f"evacuate {plan.source}: {len(plan.assignments)} guests movable, {len(plan.unplaceable)} not; "
          f"concurrency {plan.per_host_concurrency} per host")
    for m in plan.moves:
        print(f"  {m.guest_id:<8} -> {m.destination}  start {m.start_s:7.2f} s  takes {m.duration_s:6.2f} s  "
              f"downtime {m.downtime_ms:6.1f} ms  {m.outcome}")
    for gid, why in plan.unplaceable:
        print(f"  cannot move {gid}: {why}")
    print(f"predicted total: {plan.total_s:.2f} s; feasible: {'yes' if plan.feasible else 'no'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # model-level validation that argparse cannot express
        parser.error(str(exc))
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
