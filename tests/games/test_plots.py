"""preflab.games.plots: valid PNGs drawn from hand-built trajectories, the right contents, clear refusals."""

import numpy as np
import pytest
from PIL import Image

from preflab.games import Trajectory, cyclic, duality_gap, random_preference, regularized_nash
from preflab.games.plots import plot_gaps, plot_simplex, plot_win_rates, win_rate_matrix

PNG = b"\x89PNG\r\n\x1a\n"
TAB_BLUE = (31, 119, 180)          # tab10's first colour: the first algorithm's lines
GOLD = (255, 215, 0)               # the equilibrium's star


def mwu(P, ref, eta, steps):
    """Multiplicative weights on the win rate, pi <- pi exp(eta P pi): a dynamic written here by hand."""
    pis = [np.asarray(ref, dtype=float)]
    for _ in range(steps):
        w = pis[-1] * np.exp(eta * (P @ pis[-1]))
        pis.append(w / w.sum())
    return pis


@pytest.fixture(scope="module")
def game():
    P = random_preference(3, seed=4)
    ref = np.array([0.6, 0.3, 0.1])
    fast = Trajectory.record("fast", P, 0.1, ref, mwu(P, ref, 1.0, 60), every=2)
    slow = Trajectory.record("slow", P, 0.1, ref, mwu(P, ref, 0.2, 60), every=2)
    return P, ref, [fast, slow]


def pixels(path) -> np.ndarray:
    data = open(path, "rb").read()
    assert data[:8] == PNG and len(data) > 1000
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.width > 100 and im.height > 100
        return np.asarray(im.convert("RGB"))


def has_colour(img, rgb, tol=6) -> bool:
    return bool(np.any(np.all(np.abs(img.astype(int) - rgb) <= tol, axis=-1)))


def test_gap_plot(tmp_path, game):
    _, _, trajs = game
    path = tmp_path / "sub" / "gap.png"
    assert plot_gaps(trajs, path) == str(path)           # creates the folder, returns the path
    img = pixels(path)
    assert has_colour(img, TAB_BLUE)                      # the first algorithm is drawn
    # a trajectory sitting on the equilibrium has gaps of exactly 0: drawn at the floor, not dropped
    P = cyclic(3)
    still = Trajectory.record("still", P, 0.0, [1 / 3] * 3, [[1 / 3] * 3] * 5)
    assert still.gaps.max() == 0.0
    assert has_colour(pixels(plot_gaps([still], tmp_path / "zero.png")), TAB_BLUE)


def test_gap_plot_depends_on_the_data(tmp_path, game):
    _, _, (fast, slow) = game
    a = pixels(plot_gaps([fast], tmp_path / "a.png"))
    b = pixels(plot_gaps([slow], tmp_path / "b.png"))
    assert a.shape != b.shape or np.abs(a.astype(int) - b.astype(int)).sum() > 0


def test_simplex_plot_marks_the_equilibrium(tmp_path, game):
    P, _, trajs = game
    img = pixels(plot_simplex(trajs, P, tmp_path / "simplex.png"))
    assert has_colour(img, GOLD) and has_colour(img, TAB_BLUE)
    # a given equilibrium is checked as a distribution
    with pytest.raises(ValueError, match="equilibrium"):
        plot_simplex(trajs, P, tmp_path / "bad.png", equilibrium=[0.5, 0.5, 0.5])


def test_simplex_plot_only_for_three_responses(tmp_path):
    P = random_preference(4, seed=0)
    t = Trajectory.record("x", P, 0.1, [0.25] * 4, [[0.25] * 4, [0.4, 0.2, 0.2, 0.2]])
    with pytest.raises(ValueError, match="3-response games; this one has N = 4"):
        plot_simplex([t], P, tmp_path / "s.png")
    assert not (tmp_path / "s.png").exists()


def test_win_rate_matrix_numbers():
    P = cyclic(3)
    pure = np.eye(3)
    W = win_rate_matrix(P, pure)
    assert np.allclose(W, P)                               # pure policies: the preference matrix itself
    mixed = [[0.2, 0.3, 0.5], [0.6, 0.1, 0.3], [1 / 3] * 3]
    W = win_rate_matrix(P, mixed)
    assert W[0, 1] == pytest.approx(np.array(mixed[0]) @ P @ np.array(mixed[1]))
    assert np.allclose(W + W.T, 1.0)                       # constant-sum
    assert np.allclose(W[2], 0.5)                          # uniform is the cyclic game's equilibrium


def test_win_rate_plot(tmp_path, game):
    P, ref, trajs = game
    img = pixels(plot_win_rates(trajs, P, tmp_path / "winrates.png"))
    assert img.shape[1] > 300                               # 4 labelled columns and a colour bar
    # an equilibrium passed in is drawn as given, and must be a distribution over the N responses
    eq = regularized_nash(P, 0.1, ref)
    assert duality_gap(P, eq, 0.1, ref) <= 1e-10
    pixels(plot_win_rates(trajs, P, tmp_path / "given.png", equilibrium=eq))
    with pytest.raises(ValueError, match="equilibrium must be a vector of 3"):
        plot_win_rates(trajs, P, tmp_path / "bad.png", equilibrium=[1.0, 0.0])


def test_refusals(tmp_path, game):
    P, _, trajs = game
    with pytest.raises(ValueError, match="at least one Trajectory"):
        plot_gaps([], tmp_path / "g.png")
    other = Trajectory.record("four", random_preference(4), 0.1, [0.25] * 4, [[0.25] * 4] * 3)
    with pytest.raises(ValueError, match="one game at a time"):
        plot_gaps(trajs + [other], tmp_path / "g.png")
    with pytest.raises(ValueError, match="N = 3"):
        plot_win_rates([other], P, tmp_path / "w.png")
