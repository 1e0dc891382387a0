"""Secrets at rest are sealed, tamper-evident and expire when asked."""
import time

from provisioning.crypto import seal, unseal


def test_round_trip_and_not_in_clear():
    token = seal("hunter2-Secret!")
    assert "hunter2" not in token
    assert unseal(token) == "hunter2-Secret!"


def test_tampered_or_foreign_token_is_none(settings):
    token = seal("x")
    assert unseal(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]) is None
    settings.SKYPORT_SECRETS_KEY = "another deployment"
    assert unseal(token) is None
    assert unseal("") is None


def test_max_age(monkeypatch):
    token = seal("pem")
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert unseal(token, max_age_s=600) is None
    assert unseal(token, max_age_s=7200) == "pem"
