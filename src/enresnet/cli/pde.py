"""``enresnet pde``: the convection-diffusion experiment of Sec. 2.2 (Fig. 4) and its
Feynman-Kac Monte Carlo check (Eq. 14), written as ``fig4_pde.png`` and ``pde.json``."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_text
from ..errors import ConfigError
from ..outputs import check_output_dir
from ..pde import (
    FILTER_RATE,
    PAPER_DT,
    PAPER_GRID,
    PAPER_SIGMAS,
    PeriodicBilinear,
    monte_carlo_errors,
    paper_problem,
    regularity,
    solve_terminal_value_problem,
)
from ..plots.pde_figure import plot_pde_solutions
from .options import add_quiet, comma_separated


def _check_sizes(args: argparse.Namespace) -> None:
    """Upper bounds (beyond them the solver runs out of memory or time) and the output folder, before any work."""
    if args.grid > 1024 or args.velocity_mesh > args.grid or args.terminal_modes > args.grid // 2:
        raise ConfigError("need --grid <= 1024, --velocity-mesh <= --grid and --terminal-modes <= --grid / 2")
    if args.slices > 1000 or args.mc_points > 10_000 or max(args.paths) > 10**7:
        raise ConfigError("need --slices <= 1000, --mc-points <= 10000 and --paths <= 10000000")
    if not args.sigmas or not all(math.isfinite(s) and 0 <= s <= 10 for s in args.sigmas):
        raise ConfigError(f"--sigmas must be values in [0, 10], got {args.sigmas}")
    if not 0 <= args.seed < 2**63:
        raise ConfigError(f"--seed must be in [0, 2**63), got {args.seed}")
    check_output_dir(args.out)


def run(args: argparse.Namespace) -> int:
    if args.grid < 8 or not 0 < args.dt <= 0.5 or args.mc_points < 1 or not 0 < args.mc_dt <= 0.5:
        raise ConfigError("need --grid >= 8, 0 < --dt <= 0.5, --mc-points >= 1 and 0 < --mc-dt <= 0.5")
    if not args.paths or min(args.paths) < 1:
        raise ConfigError(f"--paths must be positive counts, got {args.paths}")
    if args.velocity_mesh < 1 or args.slices < 1 or args.terminal_modes < 1:
        raise ConfigError("need --velocity-mesh, --slices and --terminal-modes >= 1")
    _check_sizes(args)
    problem = paper_problem(
        args.grid, args.seed, velocity_mesh=args.velocity_mesh, slices=args.slices, terminal_modes=args.terminal_modes
    )
    filter_rate = 0.0 if args.no_filter else FILTER_RATE

    solutions, rows = {}, []
    line = "{name:<12} max|grad u|={max_grad:7.2f}  mean|grad u|={mean_grad:6.3f}  TV={total_variation:7.3f}  "
    line += "range=[{min:6.3f}, {max:6.3f}]"
    f = problem.terminal
    print(line.format(name="f = u(., 1)", **regularity(f), min=float(f.min()), max=float(f.max())))
    for sigma in args.sigmas:
        start = time.perf_counter()
        solutions[sigma] = u = solve_terminal_value_problem(problem, sigma, dt=args.dt, filter_rate=filter_rate)
        rows.append({"sigma": sigma, **regularity(u), "min": float(u.min()), "max": float(u.max()),
                     "seconds": round(time.perf_counter() - start, 2)})  # fmt: skip
        print(line.format(name=f"sigma={sigma:g}", **rows[-1]) + f"  ({rows[-1]['seconds']:.1f} s)")
    ordered = sorted(rows, key=lambda row: row["sigma"])
    monotone = all(
        a[key] > b[key] for a, b in zip(ordered, ordered[1:]) for key in ("max_grad", "mean_grad", "total_variation")
    )
    print(f"regularity ordering (each number falls as sigma grows): {'yes' if monotone else 'NO'}")

    mc_sigma = max(args.sigmas)
    rng = np.random.default_rng(args.seed)
    points = rng.integers(0, args.grid, size=(args.mc_points, 2)) / args.grid  # grid nodes: u read exactly
    start = time.perf_counter()
    mc_rows = monte_carlo_errors(problem, mc_sigma, solutions[mc_sigma], points, args.paths, args.mc_dt, args.seed)
    for row in mc_rows:
        print(f"Feynman-Kac, sigma={mc_sigma:g}, {row['paths']:>7d} paths: mean |error| {row['mean_error']:.4f}")

    args.out.mkdir(parents=True, exist_ok=True)
    plot_pde_solutions(problem.terminal, solutions, args.out / "fig4_pde.png")
    report = {
        "setting": {"grid": args.grid, "dt": args.dt, "seed": args.seed, "velocity_mesh": args.velocity_mesh,
                    "slices": args.slices, "terminal_modes": args.terminal_modes,
                    "filter_rate": filter_rate},  # fmt: skip
        "terminal_regularity": regularity(problem.terminal),
        "regularity": rows,
        "regularity_falls_with_sigma": monotone,
        "monte_carlo": {
            "sigma": mc_sigma,
            "dt": args.mc_dt,
            "points": points.tolist(),
            "pde_values": PeriodicBilinear(solutions[mc_sigma])(points).tolist(),
            "rows": mc_rows,
            "seconds": round(time.perf_counter() - start, 2),
        },
    }
    atomic_write_text(args.out / "pde.json", json.dumps(report, indent=2) + "\n")
    if not args.quiet:
        print(f"wrote {args.out / 'fig4_pde.png'} and {args.out / 'pde.json'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pde",
        help="solve the convection-diffusion equation of Fig. 4 and check Feynman-Kac against it",
        description="Solves Eq. (10) on the periodic unit square for each sigma (pseudo-spectral, ETDRK4), "
        "reports how regular u(., 0) is (Theorem 2), draws Fig. 4, and compares the Feynman-Kac Monte "
        "Carlo estimate (Eq. 14) with the solution at the largest sigma.",
    )
    p.add_argument("--out", type=Path, required=True, help="output directory for fig4_pde.png and pde.json")
    p.add_argument("--seed", type=int, default=0, help="seed of F, f, the Monte Carlo points and paths")
    p.add_argument("--grid", type=int, default=PAPER_GRID, help="grid points per axis (paper: 128, dx = 1/128)")
    p.add_argument("--dt", type=float, default=PAPER_DT, help="time step of the solver (paper: 1e-3)")
    p.add_argument("--velocity-mesh", type=int, default=16,
                   help="F is uniform in [-1, 1] on the nodes of this mesh (default 16; the paper's literal "
                        "per-grid-point F, --velocity-mesh 128, is not resolvable at sigma <= 0.01)")  # fmt: skip
    p.add_argument("--slices", type=int, default=20,
                   help="F(x, w(t)) is drawn afresh for each of this many equal time slices (default 20; 1: F "
                        "independent of t)")  # fmt: skip
    p.add_argument("--terminal-modes", type=int, default=8,
                   help="f is a random field in [-1, 1] with a flat spectrum up to this wavenumber (default 8)")
    p.add_argument("--no-filter", action="store_true",
                   help="switch the exponential filter off (it is needed at sigma <= 0.01 on the default "
                        "problem; see docs/pde.md)")  # fmt: skip
    p.add_argument("--sigmas", type=comma_separated(float), default=list(PAPER_SIGMAS),
                   help="diffusion coefficients (default: the paper's 0,0.01,0.1)")  # fmt: skip
    p.add_argument("--paths", type=comma_separated(int), default=[100, 1000, 10000],
                   help="Monte Carlo path counts (default 100,1000,10000)")  # fmt: skip
    p.add_argument("--mc-points", type=int, default=8, help="random grid points where Monte Carlo is checked")
    p.add_argument("--mc-dt", type=float, default=2.5e-3, help="Euler-Maruyama step (its O(dt) bias bounds the error)")
    add_quiet(p, "no 'wrote ...' line (the regularity and Monte Carlo lines are the result and stay)")
    p.set_defaults(func=run)
