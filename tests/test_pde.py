"""The convection-diffusion solver (Eq. 10), its Feynman-Kac Monte Carlo (Eq. 14), and the
regularity numbers of Theorem 2, checked against exact solutions and against each other."""

import json

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from enresnet.cli import main
from enresnet.errors import ConfigError
from enresnet.pde import (
    PAPER_SIGMAS,
    PeriodicBilinear,
    Problem,
    UnresolvedSolutionError,
    feynman_kac_estimate,
    grid_coordinates,
    monte_carlo_errors,
    paper_problem,
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
    assert numbers[0]["total_variation"] > 3 * numbers[2]["total_variation"]  # measured 4.7 vs 1.2


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


def test_pde_command_writes_figure_and_numbers(tmp_path):
    code = main(
        ["pde", "--out", str(tmp_path), "--grid", "64", "--dt", "2e-3", "--velocity-mesh", "4",
         "--paths", "10,100", "--mc-points", "3", "--mc-dt", "0.05"]
    )  # fmt: skip
    assert code == 0
    png = tmp_path / "fig4_pde.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    report = json.loads((tmp_path / "pde.json").read_text())
    assert [row["sigma"] for row in report["regularity"]] == list(PAPER_SIGMAS)
    assert [row["paths"] for row in report["monte_carlo"]["rows"]] == [10, 100]
    assert all(len(row["errors"]) == 3 for row in report["monte_carlo"]["rows"])


def test_pde_command_reports_an_unresolvable_velocity_as_a_user_error(tmp_path, capsys):
    assert main(["pde", "--out", str(tmp_path), "--grid", "32", "--dt", "2e-3", "--velocity-mesh", "32"]) == 2
    assert "velocity field is too rough" in capsys.readouterr().err
