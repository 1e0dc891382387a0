"""One function per EC2 Action, grouped by resource (moto's layout); each makes one service call.

An action takes a `Call` (the verified caller and the parsed parameters) and returns the response body
as plain data (see `portal.ec2.xml`). `mutates` actions are refused to read-only access keys.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import Ec2Error
from ..params import Params


@dataclass(frozen=True)
class Call:
    user: object
    params: Params
    request_id: str
    region: str

    @property
    def account_id(self) -> str:
        return account_id(self.user)

    def dry_run(self) -> None:
        """EC2's DryRun: everything was checked and would have succeeded; nothing was done."""
        if self.params.bool("DryRun"):
            raise Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.")


@dataclass(frozen=True)
class Action:
    name: str
    func: Callable[[Call], dict]
    mutates: bool


ACTIONS: dict[str, Action] = {}


def action(name: str, *, mutates: bool = False):
    def register(func: Callable[[Call], dict]) -> Callable[[Call], dict]:
        ACTIONS[name] = Action(name, func, mutates)
        return func
    return register


def account_id(user) -> str:
    """EC2's 12-digit owner id, from the user's id."""
    return f"{user.pk:012d}"


from . import images, instances, keypairs, launch, security_groups, tags  # noqa: E402,F401 - they register themselves
