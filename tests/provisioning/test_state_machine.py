"""Property test: random interleavings of create / terminate / fail / worker progress / reconcile /
maintenance keep the capacity ledger exact after every step (Hypothesis state machine).

Invariants: each host's used figures equal the sum of its claims and stay within its limits; no
claim without a live instance; a live placed instance has exactly one claim, on its own host (so
no instance is on two hosts). Each example runs in a savepoint that is rolled back afterwards.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from provisioning.choices import LIVE_STATES
from provisioning.exceptions import InsufficientCapacity, InvalidRequest, InvalidState, QuotaExceeded
from provisioning.models import Claim, Host, Instance, PlacementGroup
from provisioning.pipeline import engine, instance_steps
from provisioning.pipeline.reconciler import reconcile
from provisioning.services import instances as svc
from provisioning.services.claims import ledger_audit
from provisioning.services.quotas import quota_set
from tests.factories import NO_VT, host_factory, reservation_factory, user_factory
from tests.fixtures_domain import drain

pytestmark = pytest.mark.django_db

SIZES = ("t3.micro", "t3.small", "t3.medium", "m5.large")
APPLIANCES = ("debian-12", "ubuntu-lamp", "windows-server-2019", "nginx-alpine-container")


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        # A fleet small enough to run full: 3 hosts, one without VT-x, one that may go to maintenance.
        self.hosts = [
            host_factory("sm-a", threads=4, cpu_ratio=2.0, memory_gib=12, max_instances=4),
            host_factory("sm-b", threads=6, cpu_ratio=1.0, memory_gib=18, features=NO_VT),
            host_factory("sm-c", threads=8, cpu_ratio=1.5, memory_gib=10, ram_ratio=1.5),
        ]
        self.user = user_factory("chaos")
        quota_set(user=self.user, instances=12, vcpus=40, memory_mib=64 * 1024)
        PlacementGroup.objects.create(owner=self.user, name="spread", strategy="anti-affinity", strict=True)

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)

    def _pick(self, data, qs) -> Instance | None:
        pks = list(qs.order_by("pk").values_list("pk", flat=True))
        return Instance.objects.get(pk=data.draw(st.sampled_from(pks))) if pks else None

    @rule(n=st.integers(1, 3), size=st.sampled_from(SIZES), appliance=st.sampled_from(APPLIANCES),
          grouped=st.booleans())
    def create(self, n, size, appliance, grouped):
        try:
            reservation_factory(self.user, n, min_count=1, appliance=appliance, instance_type=size,
                                placement_group="spread" if grouped else "")
        except (InsufficientCapacity, QuotaExceeded, InvalidRequest):  # refused whole: nothing left behind
            pass

    @rule(data=st.data())
    def terminate(self, data):
        inst = self._pick(data, Instance.objects.filter(state__in=LIVE_STATES).exclude(state="shutting-down"))
        if inst is not None:
            svc.instance_action(user=self.user, instance=inst, action="terminate")

    @rule(data=st.data(), action=st.sampled_from(["stop", "start", "reboot"]))
    def power(self, data, action):
        inst = self._pick(data, Instance.objects.filter(state__in=LIVE_STATES))
        if inst is not None:
            try:
                svc.instance_action(user=self.user, instance=inst, action=action)
            except InvalidState:
                pass

    @rule(data=st.data())
    def fail(self, data):
        """A step fails mid-pipeline (the hypervisor refuses, a worker gives up)."""
        inst = self._pick(data, Instance.objects.exclude(step="").filter(state__in=LIVE_STATES))
        if inst is not None:
            with transaction.atomic():
                locked = Instance.objects.select_for_update(of=("self",)).select_related("host").get(pk=inst.pk)
                instance_steps.instance_fail(locked, "chaos: the step failed")
                locked.save()

    @rule(steps=st.integers(1, 8))
    def worker_progress(self, steps):
        """A worker runs a few pending steps (others stay pending: lost or not yet due)."""
        for pk, seq in list(Instance.objects.exclude(step="").order_by("?").values_list("pk", "step_seq")[:steps]):
            engine.step_advance(kind="instance", object_id=pk, seq=seq)

    @rule()
    def drain(self):
        """Workers catch up: every pending step runs until all instances are idle."""
        drain()

    @rule(ahead_s=st.sampled_from([0, 30, 61, 400, 4000]))
    def reconcile(self, ahead_s):
        reconcile(now=timezone.now() + timedelta(seconds=ahead_s))

    @rule(index=st.integers(0, 2), state=st.sampled_from(["enabled", "maintenance", "disabled"]))
    def host_state(self, index, state):
        Host.objects.filter(pk=self.hosts[index].pk).update(state=state)

    @invariant()
    def ledger_is_exact(self):
        assert ledger_audit() == []
        assert ledger_audit() == []
        placed_live = Instance.objects.filter(state__in=LIVE_STATES, host__isnull=False).count()
        assert Claim.objects.count() == placed_live  # one claim per live instance, none for the dead


def test_ledger_invariants_hold_under_random_interleavings(cloud_catalog):
    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=50, stateful_step_count=30, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
