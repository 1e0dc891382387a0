"""Lifecycle refusals read as sentences."""
from __future__ import annotations

import pytest

from provisioning.exceptions import InvalidState
from provisioning.lifecycle import transition_check
from provisioning.models import Instance


def test_a_refused_action_lists_the_allowed_states_as_a_sentence():
    inst = Instance(public_id="i-0000000000000000a", state="terminated")
    with pytest.raises(InvalidState) as err:
        transition_check(inst, "terminate")
    assert "needs an instance that is error, pending, running, stopped or stopping." in str(err.value)
    with pytest.raises(InvalidState, match=r"'start' needs an instance that is stopped\.$"):
        transition_check(Instance(public_id="i-0000000000000000b", state="running"), "start")
