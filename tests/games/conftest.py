import numpy as np
import pytest

from preflab.games import condorcet_mixture, cyclic, random_preference


@pytest.fixture(scope="session")
def skewed_ref():
    """A fixed non-uniform reference over 10 responses (Dirichlet(2), seed 1). On the cyclic game with a
    uniform reference every method sits at the equilibrium from step 0 (uniform is the Nash equilibrium and
    P @ uniform = 1/2), so the cyclic experiments use this one."""
    return np.random.default_rng(1).dirichlet(np.full(10, 2.0))


@pytest.fixture(scope="session")
def games(skewed_ref):
    """The three games of the report: name -> (P, ref)."""
    return {"cyclic": (cyclic(10, 1.0), skewed_ref), "random": (random_preference(10, seed=0), None),
            "mixture": (condorcet_mixture(10), None)}


@pytest.fixture(scope="session")
def game3():
    """A 3x3 intransitive game with a non-uniform reference and start, for hand-computed steps."""
    P = np.array([[0.5, 0.7, 0.2], [0.3, 0.5, 0.9], [0.8, 0.1, 0.5]])
    return P, np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5])
