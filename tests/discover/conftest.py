# hostile candidates are data for test_security, never modules to import (pytest --doctest-modules would)
collect_ignore = ["hostile"]

import pytest


@pytest.fixture(autouse=True)
def registry_left_as_found():
    """Tests here register candidates in this process's objective registry; later tests (every objective
    has a formula case, trains on a game, ...) must see only preflab's own."""
    from preflab.objectives import registry

    objectives, aliases = dict(registry._REGISTRY), dict(registry._ALIASES)
    yield
    registry._REGISTRY.clear(), registry._REGISTRY.update(objectives)
    registry._ALIASES.clear(), registry._ALIASES.update(aliases)
