"""The convection-diffusion view of EnResNets (paper Sec. 2 and 3.1), in 2D.

Terminal-value problem, Eq. (10), on the periodic unit square [0, 1)^2::

    u_t + F . grad u + (sigma^2 / 2) Lap u = 0,   t in [0, 1),     u(x, 1) = f(x).

``sigma = 0`` is the transport equation of plain ResNets, Eq. (8); ``sigma > 0``
adds the diffusion that Theorems 1-2 say makes ``u(., 0)`` (the classifier)
more regular. The velocity ``F(x, w(t))`` is piecewise constant in time: one
field per time slice, as a ResNet has one residual mapping per block (a
single slice is a time-independent F). In the paper's Fig. 4 experiment it is
uniform random in [-1, 1]; see :func:`paper_problem` for why we draw it on a
coarser mesh than the paper's every grid point: the solver needs it resolved
by the grid (docs/pde.md).

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

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError, EnresnetError


class _Scipy:
    """``scipy.<name>``, imported on first use: scipy is an optional dependency (``enresnet[pde]``),
    needed only by the solver, not by ``import enresnet.pde`` or the commands that import it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        try:
            module = importlib.import_module(f"scipy.{self._name}")
        except ImportError:
            raise EnresnetError("the PDE solver needs scipy: pip install 'enresnet[pde]' (or scipy)") from None
        return getattr(module, attr)


fft = _Scipy("fft")
signal = _Scipy("signal")

PAPER_GRID = 128
PAPER_DT = 1e-3
PAPER_SIGMAS = (0.0, 0.01, 0.1)
FILTER_RATE = 36.0 / PAPER_DT
FILTER_ORDER = 36
RK4_IMAGINARY_AXIS_LIMIT = 2.8  # RK4 is stable for lambda dt on i[-2.83, 2.83]


@dataclass(frozen=True)
class Problem:
    """Data of Eq. (10) on an n x n periodic grid, point (i, j) at x = (i/n, j/n).

    ``velocity``: (L, 2, n, n), slice l acting for t in [l/L, (l+1)/L), component
    c along array axis c; a (2, n, n) array is one slice (F independent of t).
    ``terminal``: (n, n), f = u(., 1).
    """

    velocity: np.ndarray
    terminal: np.ndarray

    def __post_init__(self) -> None:
        n = self.terminal.shape[0]
        if self.velocity.ndim == 3:
            object.__setattr__(self, "velocity", self.velocity[None])
        if self.terminal.shape != (n, n) or self.velocity.shape[1:] != (2, n, n) or not len(self.velocity):
            raise ValueError(
                f"need terminal (n, n) and velocity (L, 2, n, n) or (2, n, n), got {self.terminal.shape} "
                f"and {self.velocity.shape}"
            )

    @property
    def grid(self) -> int:
        return self.terminal.shape[0]

    @property
    def slices(self) -> int:
        """Number L of time slices of F."""
        return self.velocity.shape[0]

    def whole_steps(self, dt: float) -> int:
        """Steps from t = 0 to 1 of about ``dt``, a multiple of :attr:`slices` so no step straddles two."""
        return self.slices * max(1, round(1.0 / (dt * self.slices)))


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


def random_band_field(n: int, max_mode: int, rng: np.random.Generator) -> np.ndarray:
    """A periodic random field with a flat spectrum: independent Gaussian coefficients of equal
    variance on every mode with 0 < |k| <= ``max_mode`` (blobs of size ~1/(2 max_mode)), scaled to [-1, 1]."""
    k1 = np.fft.fftfreq(n, d=1.0 / n)[:, None]
    k2 = np.fft.fftfreq(n, d=1.0 / n)[None, :]
    radius = np.hypot(k1, k2)
    coefficients = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    field = fft.ifft2(coefficients * ((radius > 0) & (radius <= max_mode))).real
    return 2 * _unit_range(field) - 1


def _unit_range(field: np.ndarray) -> np.ndarray:
    return (field - field.min()) / (field.max() - field.min())


def paper_problem(
    grid: int = PAPER_GRID, seed: int = 0, velocity_mesh: int = 16, slices: int = 20, terminal_modes: int = 8
) -> Problem:
    """The Fig. 4 setting (Sec. 2.2) on a ``grid`` x ``grid`` mesh.

    f is a random field in [-1, 1] with a flat spectrum up to |k| =
    ``terminal_modes`` (8: blobs of ~0.1, as in Fig. 4 (d) and its colour bar).
    F(x, w(t)) is uniform in [-1, 1] at every node of a ``velocity_mesh`` x
    ``velocity_mesh`` mesh, trigonometrically interpolated onto the grid (it
    keeps those node values exactly), drawn afresh for each of ``slices`` equal
    time slices (a ResNet's blocks each have their own weights w(t)).

    The paper draws F at every node of the 128 x 128 solution mesh
    (``velocity_mesh=grid`` here). That F is not resolved by the mesh (its
    divergence reaches ~300) and the pseudo-spectral solution at sigma = 0 and
    0.01 blows up (we measured |u| ~ 1e64 with the filter, ~1e48 with the 2/3
    rule instead, also |u| ~ 80 for F redrawn at every time step; sigma = 0.1
    is fine), so :func:`solve_terminal_value_problem` raises. The defaults are
    the roughest F we found that the solver carries at sigma = 0 (docs/pde.md):
    one time-independent F (``slices=1``) on a mesh of 12 already breaks the
    maximum principle, while 20 slices on a mesh of 16 stay within 15 % of f's
    range for seeds 0-3. Time slices also keep the characteristics from
    collapsing into the few sinks of one autonomous 2D field, so that, as in
    Fig. 4 (a), u(., 0) at sigma = 0 is more irregular than f.
    """
    rng = np.random.default_rng(seed)
    nodes = rng.uniform(-1.0, 1.0, size=(slices, 2, velocity_mesh, velocity_mesh))
    velocity = signal.resample(signal.resample(nodes, grid, axis=2), grid, axis=3)
    terminal = random_band_field(grid, terminal_modes, rng)
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
    of Hou and Li (2007); over the whole interval t in [0, 1] it multiplies a mode
    by exp(-36000 (|k|/k_max)^36): it leaves |k| <= 0.62 k_max (40 of 64 on a
    128 grid) within 0.2 % and removes |k| >= 0.78 k_max (50 of 64), which the
    unresolved fronts of Eq. (10) at small sigma would otherwise fill with
    growing oscillations. As a rate (not a per-step factor) it defines one
    modified equation for every dt.
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
      (Fourier multipliers ``exp(L dt)``), so they set no step limit.
    * Filter (:func:`exponential_filter_rate`, on unless ``filter_rate=0``),
      instead of 2/3-rule dealiasing: at ``sigma = 0`` (Eq. 8) and
      ``sigma = 0.01`` the exact u(., 0) = f(X(1)) has fronts far thinner than
      dx = 1/128 (neighbouring characteristics end in different sinks of F).
      On the default :func:`paper_problem` (seed 0) u(., 0) without the filter
      reaches |u| ~ 1e20 at sigma = 0 and ~1e15 at sigma = 0.01; with it, it
      stays in [-0.86, 0.97] (exact: within f's [-1, 1]). At sigma = 0.1 the
      diffusion already damps those modes and the filter changes u by 5e-6.
      Its price: over t in [0, 1] a mode of wavenumber |k| (cycles per unit,
      grid n = 128) is multiplied by 0.998 at |k| = 40, 0.32 at 48, 0.007 at
      50, so a solution carrying modes above ~44 is wrong by their amplitude
      even where F is smooth (tests/test_pde.py measures it).
    * Convection: explicit, :class:`ETDRK4`, 4th order in time. As for RK4 its
      stability interval on the imaginary axis is |lambda dt| <= 2.83, and
      |lambda| <= 2 pi (max|F_1| + max|F_2|) n/2: 1.5 for n = 128, dt = 1e-3 and
      the paper problem's max|F_i| ~ 2, so ``sigma = 0`` is stable with margin.
      A ``dt`` beyond that bound raises :class:`~enresnet.errors.ConfigError`.
      Each time slice of F is stepped with that slice's field.

    With ``F = 0`` and f made of modes below ~0.6 k_max the scheme gives the heat
    solution to rounding error. The exact solution obeys min f <= u <= max f.
    F must be resolved by the grid (see :func:`paper_problem`); if u leaves
    that band by more than half the range of f,
    :class:`UnresolvedSolutionError` is raised rather than returning
    oscillations. ``dt`` is rounded so that whole steps reach t = 0 and each
    time slice of F gets the same number of steps.
    """
    n = problem.grid
    steps = problem.whole_steps(dt)
    dt = 1.0 / steps
    _check_time_step(problem, dt)
    k1, k2 = angular_wavenumbers(n)
    linear = -0.5 * sigma**2 * (k1**2 + k2**2) - exponential_filter_rate(n, filter_rate)
    scheme = ETDRK4(linear, dt)
    derivative = derivative_symbols(n)
    per_slice = steps // problem.slices

    v_hat = fft.rfft2(problem.terminal)
    for f1, f2 in problem.velocity[::-1]:  # reversed time: the last slice of t comes first

        def convection(v_hat: np.ndarray, f1: np.ndarray = f1, f2: np.ndarray = f2) -> np.ndarray:
            g1, g2 = fft.irfft2(derivative * v_hat, s=(n, n))
            return fft.rfft2(f1 * g1 + f2 * g2)

        for _ in range(per_slice):
            v_hat = scheme.step(v_hat, convection)
    u = fft.irfft2(v_hat, s=(n, n))
    _check_maximum_principle(u, problem.terminal, sigma)
    return u


def _check_time_step(problem: Problem, dt: float) -> None:
    fastest = np.pi * problem.grid * np.abs(problem.velocity).max(axis=(2, 3)).sum(axis=1).max()  # max |2 pi k . F|
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
            f"velocity mesh (e.g. --velocity-mesh 8) or a larger sigma, and keep the filter on"
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
    steps = problem.whole_steps(dt)
    dt = 1.0 / steps
    per_slice = steps // problem.slices
    velocities = [PeriodicBilinear(np.moveaxis(field, 0, -1)) for field in problem.velocity]
    terminal = PeriodicBilinear(problem.terminal)
    starts = np.repeat(np.asarray(points, dtype=float), num_paths, axis=0)  # point p owns rows p*M .. p*M+M-1
    totals = np.zeros(len(starts))
    for begin in range(0, len(starts), chunk):
        x = starts[begin : begin + chunk].copy()
        for velocity in velocities:
            for _ in range(per_slice):
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
