"""The convection-diffusion view of EnResNets (paper Sec. 2 and 3.1), in 2D.

Terminal-value problem, Eq. (10), on the periodic unit square [0, 1)^2::

    u_t + F . grad u + (sigma^2 / 2) Lap u = 0,   t in [0, 1),     u(x, 1) = f(x).

``sigma = 0`` is the transport equation of plain ResNets, Eq. (8); ``sigma > 0``
adds the diffusion that Theorems 1-2 say makes ``u(., 0)`` (the classifier)
more regular. The velocity ``F`` does not depend on time here, as in the
paper's Fig. 4 experiment (uniform random in [-1, 1]; see :func:`paper_problem`
for why we draw it on a coarser mesh than the paper's every grid point), and
the solver needs it resolved by the grid (docs/pde.md).

Two independent ways to get ``u(x, 0)``:

* :func:`solve_terminal_value_problem`: pseudo-spectral solver (the paper's
  method, dx = 1/128, dt = 1e-3). In reversed time ``tau = 1 - t`` the problem
  is the well-posed initial-value problem
  ``v_tau = F . grad v + (sigma^2 / 2) Lap v``, ``v(., 0) = f``, with
  ``u(., 0) = v(., 1)``.
* :func:`feynman_kac_estimate`: Monte Carlo of the Feynman-Kac formula,
  Eq. (14): ``u(x, 0) = E[f(X(1)) | X(0) = x]`` with ``dX = F(X) dt + sigma dB``.

:func:`regularity` gives the numbers that Theorem 2 (Eq. 13, with Remark 1)
says shrink as ``sigma`` grows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import fft, signal

from .errors import ConfigError, EnresnetError

PAPER_GRID = 128
PAPER_DT = 1e-3
PAPER_SIGMAS = (0.0, 0.01, 0.1)
FILTER_RATE = 36.0 / PAPER_DT
FILTER_ORDER = 36
RK4_IMAGINARY_AXIS_LIMIT = 2.8  # RK4 is stable for lambda dt on i[-2.83, 2.83]


@dataclass(frozen=True)
class Problem:
    """Data of Eq. (10) on an n x n periodic grid, point (i, j) at x = (i/n, j/n).

    ``velocity``: (2, n, n), component c along array axis c; ``terminal``: (n, n), f = u(., 1).
    """

    velocity: np.ndarray
    terminal: np.ndarray

    def __post_init__(self) -> None:
        n = self.terminal.shape[0]
        if self.terminal.shape != (n, n) or self.velocity.shape != (2, n, n):
            raise ValueError(
                f"need terminal (n, n) and velocity (2, n, n), got {self.terminal.shape} and {self.velocity.shape}"
            )

    @property
    def grid(self) -> int:
        return self.terminal.shape[0]


def grid_coordinates(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(x1, x2) arrays of shape (n, n) with x1[i, j] = i/n, x2[i, j] = j/n."""
    line = np.arange(n) / n
    return np.meshgrid(line, line, indexing="ij")


def random_fourier_field(n: int, max_mode: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth periodic random field: Gaussian coefficients on modes |k_i| <= max_mode, amplitude ~ 1/(1+|k|^2)."""
    x1, x2 = grid_coordinates(n)
    field = np.zeros((n, n))
    for k1 in range(-max_mode, max_mode + 1):
        for k2 in range(max_mode + 1):
            if k2 == 0 and k1 <= 0:
                continue  # (k1, 0) and (-k1, 0) give the same real mode; skip the constant
            a, b = rng.standard_normal(2) / (1.0 + k1 * k1 + k2 * k2)
            phase = 2 * np.pi * (k1 * x1 + k2 * x2)
            field += a * np.cos(phase) + b * np.sin(phase)
    return field


def _unit_range(field: np.ndarray) -> np.ndarray:
    return (field - field.min()) / (field.max() - field.min())


def paper_problem(grid: int = PAPER_GRID, seed: int = 0, velocity_mesh: int = 8, terminal_modes: int = 4) -> Problem:
    """The Fig. 4 setting (Sec. 2.2) on a ``grid`` x ``grid`` mesh.

    F is uniform in [-1, 1] at every node of a ``velocity_mesh`` x
    ``velocity_mesh`` mesh, trigonometrically interpolated onto the grid (it
    keeps those node values exactly); f is a random smooth field with modes up
    to ``terminal_modes``, scaled to [0, 1], like Fig. 4 (d).

    The paper draws F at every node of the 128 x 128 solution mesh
    (``velocity_mesh=grid`` here). That F is not resolved by the mesh (its
    divergence reaches ~300) and the pseudo-spectral solution at sigma = 0 and
    0.01 blows up (we measured |u| ~ 1e64 with the filter, ~1e48 with the 2/3
    rule instead; sigma = 0.1 is fine), so
    :func:`solve_terminal_value_problem` raises. With ``velocity_mesh=8``
    the sigma = 0 solution stays bounded for every seed we tried (0-5;
    overshoot at most 27 % of f's range, at unresolved fronts); at 10 it
    already overshoots by up to 47 %.
    """
    rng = np.random.default_rng(seed)
    nodes = rng.uniform(-1.0, 1.0, size=(2, velocity_mesh, velocity_mesh))
    velocity = signal.resample(signal.resample(nodes, grid, axis=1), grid, axis=2)
    terminal = _unit_range(random_fourier_field(grid, terminal_modes, rng))
    return Problem(velocity, terminal)


def smooth_problem(grid: int = 64, seed: int = 0, max_mode: int = 2, speed: float = 1.0) -> Problem:
    """A smooth test problem: F and f are random fields of a few low Fourier modes
    (max |F| = ``speed``, f in [0, 1]); resolved on coarse grids, used to check
    convergence and the Feynman-Kac estimate."""
    rng = np.random.default_rng(seed)
    velocity = np.stack([random_fourier_field(grid, max_mode, rng) for _ in range(2)])
    velocity *= speed / np.abs(velocity).max()
    terminal = _unit_range(random_fourier_field(grid, max_mode, rng))
    return Problem(velocity, terminal)


def angular_wavenumbers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """2 pi k for the ``rfft2`` layout of an (n, n) field, shapes (n, 1) and (1, n//2 + 1)."""
    k1 = 2 * np.pi * np.fft.fftfreq(n, d=1.0 / n)[:, None]
    k2 = 2 * np.pi * np.fft.rfftfreq(n, d=1.0 / n)[None, :]
    return k1, k2


def exponential_filter_rate(n: int, rate: float = FILTER_RATE, order: int = FILTER_ORDER) -> np.ndarray:
    """Damping rate ``rate * (|k| / (n/2))^order`` per unit time of each ``rfft2`` mode.

    Over one step of dt = 1e-3 this is the exponential filter exp(-36 (|k|/k_max)^36)
    of Hou and Li (2007): it leaves the modes below ~0.6 k_max untouched and
    removes those near k_max, which the unresolved fronts of Eq. (10) at small
    sigma would otherwise fill with growing oscillations. As a rate (not a
    per-step factor) it defines one modified equation for every dt.
    """
    k1, k2 = angular_wavenumbers(n)
    return rate * (np.hypot(k1, k2) / (np.pi * n)) ** order


def derivative_symbols(n: int) -> np.ndarray:
    """(2, n, n//2 + 1) Fourier symbols i 2 pi k_c of d/dx_c, Nyquist modes zeroed (odd derivative)."""
    k1, k2 = angular_wavenumbers(n)
    nyquist = np.pi * n
    k1 = np.where(np.abs(k1) == nyquist, 0.0, k1)
    k2 = np.where(np.abs(k2) == nyquist, 0.0, k2)
    return 1j * np.stack(np.broadcast_arrays(k1, k2))


def spectral_gradient(u: np.ndarray) -> np.ndarray:
    """(2, n, n) gradient of a periodic grid function on [0, 1)^2 by FFT."""
    n = u.shape[0]
    return fft.irfft2(derivative_symbols(n) * fft.rfft2(u), s=(n, n))


class ETDRK4:
    """Cox-Matthews exponential time differencing RK4 for ``v' = L v + N(v)``, diagonal ``L``.

    The linear part is integrated exactly; with ``L = 0`` a step is classical
    RK4. The phi-function coefficients are the contour-integral means of Kassam
    and Trefethen (2005), accurate also where ``L dt`` is near 0. Unlike
    Lawson's integrating-factor RK4, it keeps 4th order when ``L`` is stiff
    (we measured order ~1.5 for IF-RK4 with the filter below, 3.8-4.0 for this).
    """

    def __init__(self, linear: np.ndarray, dt: float, contour_points: int = 32) -> None:
        z = linear * dt
        self.full = np.exp(z)
        self.half = np.exp(z / 2)
        roots = np.exp(2j * np.pi * (np.arange(1, contour_points + 1) - 0.5) / contour_points)
        r = z[..., None] + roots  # points on a unit circle around each z

        def mean(values: np.ndarray) -> np.ndarray:
            return dt * values.mean(axis=-1).real

        self.half_phi = mean((np.exp(r / 2) - 1) / r)
        self.f1 = mean((-4 - r + np.exp(r) * (4 - 3 * r + r**2)) / r**3)
        self.f2 = mean((2 + r + np.exp(r) * (r - 2)) / r**3)
        self.f3 = mean((-4 - 3 * r - r**2 + np.exp(r) * (4 - r)) / r**3)

    def step(self, v: np.ndarray, nonlinear: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        nv = nonlinear(v)
        a = self.half * v + self.half_phi * nv
        na = nonlinear(a)
        b = self.half * v + self.half_phi * na
        nb = nonlinear(b)
        c = self.half * a + self.half_phi * (2 * nb - nv)
        nc = nonlinear(c)
        return self.full * v + self.f1 * nv + 2 * self.f2 * (na + nb) + self.f3 * nc


class UnresolvedSolutionError(EnresnetError, ArithmeticError):
    """The computed u(., 0) broke the maximum principle: F is too rough for the grid."""


def solve_terminal_value_problem(
    problem: Problem, sigma: float, dt: float = PAPER_DT, filter_rate: float = FILTER_RATE
) -> np.ndarray:
    """u(., 0) of Eq. (10) by a Fourier pseudo-spectral method with ETDRK4 time stepping.

    In reversed time ``tau = 1 - t``, ``v_tau = L v + N(v)`` with
    ``L = (sigma^2 / 2) Lap - filter`` and ``N(v) = F . grad v``; ``v(., 0) = f``.

    * Space: Fourier pseudo-spectral; ``grad v`` exact in Fourier space, the
      product ``F . grad v`` formed on the grid.
    * Diffusion and filter: integrated exactly by the exponential integrator
      (Fourier multipliers ``exp(L dt)``), so they set no step limit. The filter
      (:func:`exponential_filter_rate`) replaces 2/3-rule dealiasing: at
      ``sigma = 0`` (Eq. 8) and ``sigma = 0.01`` the exact u(., 0) = f(X(1))
      has fronts far thinner than dx = 1/128 (neighbouring characteristics
      end in different sinks of F). With the default :func:`paper_problem`
      at sigma = 0, u(., 0) spans [-0.27, 1.05] with the filter (exact: within
      [0, 1]), [-2.3, 3.6] with the 2/3 rule instead, and +-3e6 with neither
      (``filter_rate=0``). With
      ``F = 0`` and f made of modes below ~0.6 k_max the scheme gives the heat
      solution to rounding error.
    * Convection: explicit, :class:`ETDRK4`, 4th order in time. As for RK4 its
      stability interval on the imaginary axis is |lambda dt| <= 2.83, and
      |lambda| <= 2 pi (max|F_1| + max|F_2|) n/2: 1.2 for n = 128, dt = 1e-3 and
      the paper problem's max|F_i| ~ 1.5, so ``sigma = 0`` is stable with margin.
      A ``dt`` beyond that bound raises :class:`~enresnet.errors.ConfigError`.

    The exact solution obeys min f <= u <= max f. F must be resolved by the
    grid (see :func:`paper_problem`); if u leaves that band by more than half
    the range of f, :class:`UnresolvedSolutionError` is raised rather than
    returning oscillations. ``dt`` is rounded so that whole steps reach t = 0.
    """
    n = problem.grid
    steps = max(1, round(1.0 / dt))
    dt = 1.0 / steps
    _check_time_step(problem, dt)
    k1, k2 = angular_wavenumbers(n)
    linear = -0.5 * sigma**2 * (k1**2 + k2**2) - exponential_filter_rate(n, filter_rate)
    scheme = ETDRK4(linear, dt)
    f1, f2 = problem.velocity
    derivative = derivative_symbols(n)

    def convection(v_hat: np.ndarray) -> np.ndarray:
        g1, g2 = fft.irfft2(derivative * v_hat, s=(n, n))
        return fft.rfft2(f1 * g1 + f2 * g2)

    v_hat = fft.rfft2(problem.terminal)
    for _ in range(steps):
        v_hat = scheme.step(v_hat, convection)
    u = fft.irfft2(v_hat, s=(n, n))
    _check_maximum_principle(u, problem.terminal, sigma)
    return u


def _check_time_step(problem: Problem, dt: float) -> None:
    fastest = np.pi * problem.grid * np.abs(problem.velocity).max(axis=(1, 2)).sum()  # max |2 pi k . F|
    if fastest * dt > RK4_IMAGINARY_AXIS_LIMIT:
        raise ConfigError(
            f"dt={dt:g} is unstable for convection on a {problem.grid}-point grid with this velocity "
            f"(|lambda| dt = {fastest * dt:.2f} > {RK4_IMAGINARY_AXIS_LIMIT}); use dt <= "
            f"{RK4_IMAGINARY_AXIS_LIMIT / fastest:.2g}"
        )


def _check_maximum_principle(u: np.ndarray, terminal: np.ndarray, sigma: float) -> None:
    low, high = terminal.min(), terminal.max()
    slack = 0.5 * (high - low)
    if not (np.isfinite(u).all() and low - slack <= u.min() and u.max() <= high + slack):
        raise UnresolvedSolutionError(
            f"u(., 0) at sigma={sigma} spans [{u.min():.3g}, {u.max():.3g}] but the maximum principle bounds it "
            f"by f's range [{low:.3g}, {high:.3g}]: the velocity field is too rough for this grid; use a coarser "
            f"velocity mesh (e.g. --velocity-mesh 8) or a larger sigma"
        )


class PeriodicBilinear:
    """Bilinear interpolation of periodic grid values on [0, 1)^2.

    ``field`` is (n, n) or (n, n, channels) with node (i, j) at (i/n, j/n);
    calling with ``points`` (..., 2) returns (...) or (..., channels). The table is
    padded once with its periodic copies, so a call needs no modulo on indices.
    """

    def __init__(self, field: np.ndarray) -> None:
        self.n = field.shape[0]
        self.channel_shape = field.shape[2:]
        padded = np.pad(field, ((0, 2), (0, 2)) + ((0, 0),) * len(self.channel_shape), mode="wrap")
        self.tables = padded.reshape((self.n + 2) ** 2, -1).T.copy()  # (channels, (n+2)^2)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        scaled = (points - np.floor(points)) * self.n  # in [0, n]
        lower = np.floor(scaled)
        w1, w2 = np.moveaxis(scaled - lower, -1, 0)
        i, j = np.moveaxis(lower.astype(np.intp), -1, 0)
        stride = self.n + 2
        c00 = i * stride + j
        c10 = c00 + stride
        out = np.empty(points.shape[:-1] + (len(self.tables),))
        for channel, table in enumerate(self.tables):
            low = np.take(table, c00)
            low += (np.take(table, c00 + 1) - low) * w2
            high = np.take(table, c10)
            high += (np.take(table, c10 + 1) - high) * w2
            out[..., channel] = low + (high - low) * w1
        return out.reshape(points.shape[:-1] + self.channel_shape)


def feynman_kac_estimate(
    problem: Problem,
    sigma: float,
    points: np.ndarray,
    num_paths: int,
    dt: float = 1e-2,
    rng: np.random.Generator | int | None = None,
    chunk: int = 8192,
) -> np.ndarray:
    """Monte Carlo u(x, 0) = E[f(X(1)) | X(0) = x] (Feynman-Kac, Eq. 14) at ``points`` (P, 2).

    Euler-Maruyama on ``dX = F(X) dt + sigma dB`` from t = 0 to 1 (the Ito
    process of Sec. 3.1; forward in t, which is why it solves the *backward*
    Kolmogorov equation (10)); F and f are bilinearly interpolated between grid
    points with periodic wrap. Paths move together in blocks of ``chunk``
    (small enough to stay in cache). Errors: statistical ~ std(f(X_1)) /
    sqrt(num_paths), plus an O(dt) weak time-step bias and the O(dx^2)
    interpolation bias.
    """
    rng = np.random.default_rng(rng)
    steps = max(1, round(1.0 / dt))
    dt = 1.0 / steps
    velocity = PeriodicBilinear(np.moveaxis(problem.velocity, 0, -1))
    terminal = PeriodicBilinear(problem.terminal)
    starts = np.repeat(np.asarray(points, dtype=float), num_paths, axis=0)  # point p owns rows p*M .. p*M+M-1
    totals = np.zeros(len(starts))
    for begin in range(0, len(starts), chunk):
        x = starts[begin : begin + chunk].copy()
        for _ in range(steps):
            x += velocity(x) * dt
            if sigma:
                x += sigma * np.sqrt(dt) * rng.standard_normal(x.shape)
        totals[begin : begin + chunk] = terminal(x)
    return totals.reshape(len(points), num_paths).mean(axis=1)


def monte_carlo_errors(
    problem: Problem,
    sigma: float,
    solution: np.ndarray,
    points: np.ndarray,
    path_counts: list[int],
    dt: float = 1e-2,
    seed: int = 0,
) -> list[dict]:
    """|Feynman-Kac estimate - PDE solution| at ``points`` for each path count.

    ``solution`` is u(., 0) on the grid (from :func:`solve_terminal_value_problem`),
    read at the points bilinearly (exactly, at grid points). Each path count gets
    its own independent paths. Rows: {"paths", "errors" (per point), "mean_error"}.
    """
    reference = PeriodicBilinear(solution)(points)
    rows = []
    for index, count in enumerate(path_counts):
        rng = np.random.default_rng([seed, index])
        estimate = feynman_kac_estimate(problem, sigma, points, count, dt=dt, rng=rng)
        errors = np.abs(estimate - reference)
        rows.append({"paths": int(count), "errors": errors.tolist(), "mean_error": float(errors.mean())})
    return rows


def regularity(u: np.ndarray) -> dict[str, float]:
    """How irregular u(., 0) is (Theorem 2, Eq. 13 and Remark 1: these shrink as sigma grows).

    * ``max_grad``, ``mean_grad``: max and mean over the grid of |grad u|, with the
      spectral gradient (``mean_grad`` is the isotropic total variation on the unit square);
    * ``total_variation``: the discrete anisotropic total variation
      sum |u[i+1, j] - u[i, j]| + |u[i, j+1] - u[i, j]| (periodic), times dx,
      from finite differences so it is not inflated by Gibbs oscillation at jumps.
    """
    grad_norm = np.hypot(*spectral_gradient(u))
    n = u.shape[0]
    jumps = np.abs(np.roll(u, -1, axis=0) - u).sum() + np.abs(np.roll(u, -1, axis=1) - u).sum()
    return {
        "max_grad": float(grad_norm.max()),
        "mean_grad": float(grad_norm.mean()),
        "total_variation": float(jumps / n),
    }
