"""The convection-diffusion solver (Eq. 10), its Feynman-Kac Monte Carlo (Eq. 14), and the
regularity numbers of Theorem 2, checked against exact solutions and against each other."""

import json

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from enresnet.cli import main
from enresnet.errors import ConfigError
from enresnet.pde import (
    FILTER_RATE,
    PAPER_SIGMAS,
    PeriodicBilinear,
    Problem,
    UnresolvedSolutionError,
    feynman_kac_estimate,
    grid_coordinates,
    monte_carlo_errors,
    paper_problem,
    random_band_field,
    regularity,
    smooth_problem,
    solve_terminal_value_problem,
)

# (k1, k2, amplitude, phase): modes well below the filter's reach on a 64 grid
MODES = [(1, 0, 1.0, 0.3), (2, 3, 0.5, 1.1), (0, 5, 0.25, -0.4), (4, -4, 0.2, 2.0)]


def sum_of_modes(n, decay=lambda k1, k2: 1.0, shift=(0.0, 0.0)):
    x1, x2 = grid_coordinates(n)
    return sum(
        a * decay(k1, k2) * np.cos(2 * np.pi * (k1 * (x1 + shift[0]) + k2 * (x2 + shift[1])) + phase)
        for k1, k2, a, phase in MODES
    )


def test_zero_velocity_gives_the_exact_heat_solution():
    n, sigma = 64, 0.1
    f = sum_of_modes(n)
    u = solve_terminal_value_problem(Problem(np.zeros((2, n, n)), f), sigma, dt=1e-2)
    # Gaussian smoothing with variance sigma^2 per axis over time 1: multiplier exp(-sigma^2 |2 pi k|^2 / 2)
    exact = sum_of_modes(n, decay=lambda k1, k2: np.exp(-0.5 * sigma**2 * (2 * np.pi) ** 2 * (k1**2 + k2**2)))
    assert np.abs(exact - f).max() > 0.05  # diffusion did something measurable
    assert np.abs(u - exact).max() < 1e-13


def test_constant_velocity_carries_f_backward_along_characteristics():
    # u(x, 0) = f(X(1)) with X(1) = x + c: the sign and time direction of the convection term
    n, c = 64, (0.25, -0.125)
    velocity = np.stack([np.full((n, n), c[0]), np.full((n, n), c[1])])
    u = solve_terminal_value_problem(Problem(velocity, sum_of_modes(n)), 0.0, dt=2.5e-3)
    assert np.abs(u - sum_of_modes(n, shift=c)).max() < 1e-7  # 4th-order time error, ~5e-9
    assert np.abs(u - sum_of_modes(n, shift=(-c[0], -c[1]))).max() > 0.5


def test_time_slices_of_f_act_in_order_and_for_their_share_of_t():
    # t in [0, 1/2): F = (a, 0); t in [1/2, 1): F = (0, g(x_1)). Characteristics:
    # X(1) = (x_1 + a/2, x_2 + g(x_1 + a/2)/2), so u(x, 0) = f(X(1)); the slices swapped give g(x_1)/2.
    n, a = 64, 0.25
    x1, x2 = grid_coordinates(n)

    def f(y1, y2):
        return np.cos(2 * np.pi * y1) * np.sin(4 * np.pi * y2)

    def g(y1):
        return 0.2 * np.sin(2 * np.pi * y1)

    zero = np.zeros((n, n))
    velocity = np.stack([np.stack([np.full((n, n), a), zero]), np.stack([zero, g(x1)])])
    problem = Problem(velocity, f(x1, x2))
    assert problem.slices == 2 and problem.whole_steps(3e-3) % 2 == 0
    u = solve_terminal_value_problem(problem, 0.0, dt=2.5e-3)
    exact = f(x1 + a / 2, x2 + g(x1 + a / 2) / 2)
    assert np.abs(u - exact).max() < 1e-6  # measured 1e-10
    assert np.abs(u - f(x1 + a / 2, x2 + g(x1) / 2)).max() > 0.3
    points = np.random.default_rng(0).integers(0, n, size=(6, 2)) / n
    paths = feynman_kac_estimate(problem, 0.0, points, num_paths=1, dt=2.5e-3)  # sigma = 0: one path is exact
    np.testing.assert_allclose(paths, PeriodicBilinear(exact)(points), atol=1e-2)  # bilinear F, f: O(dx^2); 3.4e-3


def test_the_filter_keeps_modes_up_to_40_and_removes_those_beyond_50_on_a_128_grid():
    # Constant F: the exact u(., 0) is f shifted by F, whatever the modes of f; the only
    # error left is the filter's (and 4th-order time stepping's).
    n, c = 128, (0.25, -0.125)
    x1, x2 = grid_coordinates(n)
    velocity = np.stack([np.full((n, n), c[0]), np.full((n, n), c[1])])

    def f(y1, y2, high=1.0):  # |k| = 40 and 25 (kept), |k| = (40, 40) ~ 56.6 (removed)
        low = np.cos(2 * np.pi * (40 * y1 + 0.3)) + np.sin(2 * np.pi * (15 * y1 - 20 * y2))
        return low + high * np.cos(2 * np.pi * (40 * y1 + 40 * y2))

    problem = Problem(velocity, f(x1, x2))
    exact = f(x1 + c[0], x2 + c[1])
    filtered = solve_terminal_value_problem(problem, 0.0)
    unfiltered = solve_terminal_value_problem(problem, 0.0, filter_rate=0.0)
    assert np.abs(unfiltered - exact).max() < 1e-4  # measured 9e-6 (4th-order time stepping)
    assert np.abs(filtered - f(x1 + c[0], x2 + c[1], high=0.0)).max() < 5e-3  # |k| = 40 damped by 0.2 %: 1.6e-3
    assert np.abs(filtered - exact).max() > 0.99  # the |k| ~ 56.6 mode is gone
    band = random_band_field(n, 40, np.random.default_rng(0))  # flat spectrum, |k| <= 40
    band_exact = solve_terminal_value_problem(Problem(velocity, band), 0.0, filter_rate=0.0)
    assert np.abs(solve_terminal_value_problem(Problem(velocity, band), 0.0) - band_exact).max() < 1e-3  # 2.4e-4


def test_time_stepping_is_fourth_order_on_a_smooth_problem():
    problem = smooth_problem(grid=32, seed=0, speed=0.5)
    reference = solve_terminal_value_problem(problem, 0.1, dt=1 / 640)
    errors = [np.abs(solve_terminal_value_problem(problem, 0.1, dt=1 / m) - reference).max() for m in (40, 80, 160)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 1e-7
    assert np.all((orders > 3.5) & (orders < 4.5)), orders  # measured 4.02, 4.01


def test_time_step_beyond_the_stability_limit_is_a_config_error():
    with pytest.raises(ConfigError, match="use dt <="):
        solve_terminal_value_problem(smooth_problem(grid=32, speed=1.0), 0.0, dt=0.1)


def test_periodic_bilinear_matches_scipy_and_wraps():
    rng = np.random.default_rng(0)
    n = 16
    field = rng.standard_normal((n, n, 2))
    nodes = np.arange(n + 1) / n
    points = rng.uniform(0, 1, size=(50, 2))
    interpolate = PeriodicBilinear(field)
    for channel in range(2):
        scipy_values = RegularGridInterpolator((nodes, nodes), np.pad(field[..., channel], (0, 1), mode="wrap"))(points)
        np.testing.assert_allclose(interpolate(points)[:, channel], scipy_values, atol=1e-13)
    np.testing.assert_allclose(interpolate(points + np.array([2.0, -3.0])), interpolate(points), atol=1e-12)
    assert interpolate(points[None]).shape == (1, 50, 2)
    np.testing.assert_allclose(PeriodicBilinear(field[..., 1])(points), interpolate(points)[:, 1])


def test_deterministic_paths_follow_the_characteristics_like_the_solver():
    n, c = 64, (3 / 64, -5 / 64)  # shifts by whole cells: bilinear reads of f are exact
    velocity = np.stack([np.full((n, n), c[0]), np.full((n, n), c[1])])
    problem = Problem(velocity, sum_of_modes(n))
    u = solve_terminal_value_problem(problem, 0.0, dt=1e-2)
    points = np.array([[0.0, 0.0], [10 / 64, 40 / 64], [63 / 64, 1 / 64]])
    estimate = feynman_kac_estimate(problem, 0.0, points, num_paths=3, dt=1e-2)
    np.testing.assert_allclose(estimate, PeriodicBilinear(u)(points), atol=1e-7)


def test_monte_carlo_error_falls_like_one_over_root_n_against_the_solver():
    # sigma = 0.5 keeps the Euler-Maruyama bias (~1e-3 at dt = 0.01) below the
    # statistical error at 10^4 paths (~2e-3); 8 points x 3 seeds per path count.
    problem = smooth_problem(grid=64, seed=0)
    sigma = 0.5
    u = solve_terminal_value_problem(problem, sigma, dt=5e-3)
    points = np.random.default_rng(7).integers(0, 64, size=(8, 2)) / 64
    errors = np.array(
        [
            [row["errors"] for row in monte_carlo_errors(problem, sigma, u, points, [100, 1000, 10000], seed=s)]
            for s in range(3)
        ]
    )
    rms = np.sqrt((errors**2).mean(axis=(0, 2)))  # per path count; measured 0.0227, 0.0077, 0.0021
    assert 2.0 < rms[0] / rms[1] < 5.0  # sqrt(10) = 3.16
    assert 5.0 < rms[0] / rms[2] < 20.0  # 10
    assert rms[2] < 0.005


def test_regularity_numbers_of_simple_functions():
    n = 64
    x1, _ = grid_coordinates(n)
    numbers = regularity(np.sin(2 * np.pi * x1))
    assert numbers["max_grad"] == pytest.approx(2 * np.pi, rel=1e-3)
    assert numbers["mean_grad"] == pytest.approx(4.0, rel=1e-3)  # integral of |2 pi cos(2 pi x)|
    assert numbers["total_variation"] == pytest.approx(4.0, rel=1e-3)
    assert regularity(np.full((n, n), 0.7)) == {"max_grad": 0.0, "mean_grad": 0.0, "total_variation": 0.0}


@pytest.fixture(scope="module")
def paper_solutions():
    problem = paper_problem(seed=0)
    return problem, {sigma: solve_terminal_value_problem(problem, sigma) for sigma in PAPER_SIGMAS}


def test_regularity_falls_as_sigma_rises_in_the_paper_setting(paper_solutions):
    _, solutions = paper_solutions
    numbers = [regularity(solutions[sigma]) for sigma in PAPER_SIGMAS]
    for key in ("max_grad", "mean_grad", "total_variation"):
        values = [n[key] for n in numbers]
        assert values[0] > values[1] > values[2], (key, values)
    tv = [n["total_variation"] for n in numbers]  # measured 16.4, 10.5, 0.72
    assert tv[1] < 0.75 * tv[0] and tv[2] < 0.1 * tv[1]
    spans = [np.ptp(solutions[sigma]) for sigma in PAPER_SIGMAS]  # measured 1.83, 1.36, 0.29
    assert spans[1] < 0.8 * spans[0] and spans[2] < 0.25 * spans[0]


def test_paper_terminal_condition_is_a_field_in_minus_1_1_that_transport_roughens(paper_solutions):
    problem, solutions = paper_solutions
    f = problem.terminal
    assert (f.min(), f.max()) == (-1.0, 1.0)
    assert 0.5 * np.ptp(problem.velocity) == pytest.approx(2.0, abs=0.1)  # interpolated from nodes in [-1, 1]
    # Fig. 4 (a) vs (d): at sigma = 0 u(., 0) is rougher than f (measured TV 16.4 vs 11.3)
    assert regularity(solutions[0.0])["total_variation"] > 1.2 * regularity(f)["total_variation"]


def test_solutions_respect_the_maximum_principle_up_to_front_overshoot(paper_solutions):
    problem, solutions = paper_solutions
    f = problem.terminal
    for sigma, u in solutions.items():
        assert f.min() - 0.3 < u.min() and u.max() < f.max() + 0.3, sigma
    assert f.min() <= solutions[0.1].min() and solutions[0.1].max() <= f.max()  # resolved: no overshoot at all


def test_without_the_filter_unresolved_fronts_are_reported_not_returned(paper_solutions):
    problem, _ = paper_solutions
    with pytest.raises(UnresolvedSolutionError, match="maximum principle"):
        solve_terminal_value_problem(problem, 0.0, filter_rate=0.0)


def test_the_filter_changes_nothing_where_diffusion_resolves_the_solution(paper_solutions):
    problem, solutions = paper_solutions
    unfiltered = solve_terminal_value_problem(problem, 0.1, filter_rate=0.0)
    assert np.abs(unfiltered - solutions[0.1]).max() < 1e-4  # measured 5e-6


def test_pde_command_writes_figure_and_numbers(tmp_path):
    code = main(
        ["pde", "--out", str(tmp_path), "--grid", "64", "--dt", "2e-3", "--velocity-mesh", "4",
         "--paths", "10,100", "--mc-points", "3", "--mc-dt", "0.05"]
    )  # fmt: skip
    assert code == 0
    png = tmp_path / "fig4_pde.png"
    from matplotlib.image import imread

    height, width, _ = imread(png).shape  # a PNG matplotlib reads: one panel per sigma and f, side by side
    assert width > 3 * height and len(np.unique(imread(png)[..., :3].reshape(-1, 3), axis=0)) > 50
    report = json.loads((tmp_path / "pde.json").read_text())
    assert [row["sigma"] for row in report["regularity"]] == list(PAPER_SIGMAS)
    assert report["regularity_falls_with_sigma"] is True
    assert report["setting"]["filter_rate"] == FILTER_RATE and report["setting"]["slices"] == 20
    assert [row["paths"] for row in report["monte_carlo"]["rows"]] == [10, 100]
    assert all(len(row["errors"]) == 3 for row in report["monte_carlo"]["rows"])


def test_pde_command_reports_an_unresolvable_velocity_as_a_user_error(tmp_path, capsys):
    assert main(["pde", "--out", str(tmp_path), "--grid", "32", "--dt", "2e-3", "--velocity-mesh", "32"]) == 2
    assert "velocity field is too rough" in capsys.readouterr().err
