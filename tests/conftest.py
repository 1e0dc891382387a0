"""Shared test configuration.

The fixtures live in pytest plugins loaded from pyproject's addopts (``-p tests.fixtures_runtime
-p tests.fixtures_domain``): a plugin is imported before pytest-django loads the Django settings,
which a conftest.py below the rootdir is not, and the runtime plugin must set SKYPORT_SIM_SPEED and
the per-session Celery queue before that.
"""
import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("tests.fixtures_runtime"):
        raise pytest.UsageError(
            "tests.fixtures_runtime is not loaded: run the suite with `make test` (or keep "
            "`-p tests.fixtures_runtime` in pyproject's addopts)."
        )


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters (the tests' per-process memory cache) start at zero in every test."""
    from django.core.cache import cache

    cache.clear()
    yield
