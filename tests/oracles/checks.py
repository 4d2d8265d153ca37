"""Shared assertions for oracle tests."""

import numpy as np


def assert_valid_prefs(P, k):
    """A [k, k] preference matrix: entries in [0, 1], P + P.T = 1, diagonal 1/2."""
    P = np.asarray(P)
    assert P.shape == (k, k) and P.dtype == np.float64
    assert np.all((P >= 0) & (P <= 1))
    np.testing.assert_allclose(P + P.T, np.ones((k, k)), atol=1e-12)
    np.testing.assert_allclose(np.diag(P), 0.5, atol=0)


def binomial_tolerance(p, n, sigmas=4.0):
    """How far an empirical frequency of n Bernoulli(p) draws may stray: `sigmas` binomial standard deviations."""
    return sigmas * np.sqrt(np.asarray(p) * (1 - np.asarray(p)) / n) + 1e-12
