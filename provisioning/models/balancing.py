"""The balancer's policy: one row for the fleet, set by staff (vSphere DRS's per-cluster settings)."""
from __future__ import annotations

from django.db import models
from django.db.models import Q

from ..choices import BALANCING_LEVELS, BalancingMode


class BalancingPolicy(models.Model):
    """Mode (manual / automatic) and threshold level (1..5) that the beat task and the recommendations read.

    Written only by `services.balancing.balancing_policy_set`, which logs who changed what. Until staff
    first set it there is no row and SKYPORT_BALANCING's `mode` and `threshold` are the policy, so the
    setting is the initial default and a fresh database needs no seeding.
    """

    ONE = 1  # the fleet's row: the balancer balances the whole fleet, as DRS balances one cluster

    id = models.PositiveSmallIntegerField(primary_key=True, default=ONE, editable=False)
    mode = models.CharField(max_length=16, choices=BalancingMode.choices)
    threshold = models.PositiveSmallIntegerField(help_text="DRS migration threshold: 1 moves least, 5 most")
    updated_by = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "balancing policy"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="balancing_policy_one_row"),
            models.CheckConstraint(condition=Q(threshold__gte=min(BALANCING_LEVELS),
                                               threshold__lte=max(BALANCING_LEVELS)),
                                   name="balancing_policy_threshold_level"),
            models.CheckConstraint(condition=Q(mode__in=BalancingMode.values), name="balancing_policy_mode_known"),
        ]

    def __str__(self) -> str:
        return f"{self.mode}, level {self.threshold}"

    def as_dict(self) -> dict:
        return {"mode": self.mode, "threshold": self.threshold, "updated_by": self.updated_by,
                "updated_at": self.updated_at}
