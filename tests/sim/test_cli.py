"""The CLI, run as a subprocess exactly as a user would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run([sys.executable, "-m", "hypervisor_sim", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


MIGRATE = ["migrate", "--memory-mib", "4096", "--bandwidth-mibps", "1250", "--dirty-rate-mibps", "200",
           "--dirty-model", "wws", "--downtime-limit-ms", "300"]


def test_migrate_json():
    out = cli(*MIGRATE, "--seed", "3", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["outcome"] == "completed"
    assert {"downtime_ms", "total_mib", "total_s", "outcome", "rounds"} <= set(data)
    assert {"round", "sent_mib", "duration_s", "dirty_mib"} <= set(data["rounds"][0])
    assert data["rounds"][0]["sent_mib"] == 4096
    assert cli(*MIGRATE, "--seed", "3", "--json").stdout == out.stdout  # deterministic


def test_migrate_table_and_closed_form_line():
    out = cli("migrate", "--memory-mib", "4096", "--bandwidth-mibps", "1250", "--dirty-rate-mibps", "200")
    assert out.returncode == 0
    assert "round" in out.stdout and "stop-and-copy" in out.stdout
    assert "outcome: completed (threshold)" in out.stdout
    assert "closed form (Liu et al. 2011): n = 2" in out.stdout


def test_migrate_non_convergent_and_auto_converge():
    args = ["migrate", "--memory-mib", "4096", "--bandwidth-mibps", "125", "--dirty-rate-mibps", "180"]
    fail = cli(*args)
    assert "outcome: failed (data_cap)" in fail.stdout
    assert "dirty rate 180 MiB/s exceeds bandwidth 125 MiB/s and auto-converge is off" in fail.stdout
    ok = json.loads(cli(*args, "--auto-converge", "--json").stdout)
    assert ok["outcome"] == "completed" and ok["converged_by"] == "auto_converge"


def test_compare_modes_ordering():
    cpu = json.loads(cli("compare-modes", "--workload", "cpu_bound", "--json").stdout)
    perf = {m["mode"]: m["relative_performance"] for m in cpu["modes"]}
    assert min(v for k, v in perf.items() if k != "emulation") > 0.95 and perf["emulation"] < 0.3
    sys_ = json.loads(cli("compare-modes", "--workload", "syscall_heavy", "--json").stdout)
    perf = {m["mode"]: m["relative_performance"] for m in sys_["modes"]}
    assert perf["paravirtualization"] > 0.85 and perf["hardware_assisted"] > 0.85
    assert perf["binary_translation"] < 0.6
    text = cli("compare-modes", "--workload", "io_heavy", "--no-hw-virt").stdout
    assert "hardware_assisted" in text and "refused: hardware-assisted mode needs VT-x" in text


def test_boot_and_evacuate():
    boot = cli("boot", "--os", "linux", "--mode", "container")
    assert boot.returncode == 0 and "firmware" not in boot.stdout and "Set hostname to demo-1" in boot.stdout
    win = cli("boot", "--os", "windows")
    assert "Generated password for Administrator" in win.stdout
    evac = cli("evacuate")
    assert evac.returncode == 0 and "cannot move" in evac.stdout and "predicted total" in evac.stdout
    assert json.loads(cli("evacuate", "--json").stdout)["unplaceable"]


@pytest.mark.parametrize("args, message", [
    (["migrate", "--memory-mib", "0", "--bandwidth-mibps", "1", "--dirty-rate-mibps", "1"],
     "--memory-mib: must be a positive integer"),
    (["migrate", "--memory-mib", "64", "--bandwidth-mibps", "fast", "--dirty-rate-mibps", "1"],
     "--bandwidth-mibps: 'fast' is not a number"),
    (["migrate", "--memory-mib", "64", "--bandwidth-mibps", "1", "--dirty-rate-mibps", "1", "--dirty-model", "zipf"],
     "invalid choice: 'zipf'"),
    (["migrate", "--memory-mib", "64", "--bandwidth-mibps", "nan", "--dirty-rate-mibps", "1"],
     "--bandwidth-mibps: must be a positive number, got nan"),
    (["migrate", "--memory-mib", "64", "--bandwidth-mibps", "1", "--dirty-rate-mibps", "inf"],
     "--dirty-rate-mibps: must be zero or a positive number, got inf"),
    (["migrate", "--memory-mib", "1.5", "--bandwidth-mibps", "1", "--dirty-rate-mibps", "1"],
     "--memory-mib: '1.5' is not an integer"),
    (["compare-modes", "--workload", "mining"], "invalid choice: 'mining'"),
    (["boot", "--os", "windows", "--mode", "paravirtualization"], "closed source"),
    ([], "required"),
])
def test_bad_input_is_an_argparse_error(args, message):
    out = cli(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
