"""Shared pytest setup: hypothesis profiles and markers.

Pick a hypothesis profile with HYPOTHESIS_PROFILE: "dev" (the default, ~100 examples),
"ci" (derandomized, so a CI run is reproducible) or "fuzz" (3000 examples, for `make fuzz`).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config: pytest.Config) -> None:
    # `slow` and `backend(name)` are registered in pyproject.toml.
    config.addinivalue_line(
        "markers", "fuzz: property tests that `make fuzz` runs at 3000 examples"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `slow` tests unless they are asked for (`-m slow`) or ALTA_RUN_SLOW=1."""
    if os.environ.get("ALTA_RUN_SLOW") == "1" or "slow" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or ALTA_RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
