"""Fuzz: every config mutation and command-line value either validates or stops with the project's error.

Validation-level only (nothing trains): the step after validation is replaced by a stub that raises
:class:`_Validated`, so an input that passes every check ends there. Any other exception is a bug.
"""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import enresnet.cli.pde as pde_cli
import enresnet.cli.plot as plot_cli
import enresnet.train as train_module
from enresnet.cli import main
from enresnet.config import SCHEMA, to_toml, validate
from enresnet.errors import EnresnetError

from helpers import tiny_config

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class _Validated(Exception):
    """Raised by the stubs: the input passed every check."""


def _stub(*args, **kwargs):
    raise _Validated


scalars = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["8/255", "1/0", "auto", "cpu", "cuda:7", "synthetic", "fashion_mnist", "tensor", "eval"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4), st.dictionaries(st.text(max_size=8), scalars, max_size=3))
keys = st.sampled_from([(s, k) for s, section in SCHEMA.items() for k in section] + [("train", "learning_rate")])


def _raw():
    """The raw (unvalidated) form of the tiny test config."""
    return {section: {k: v for k, v in table.items() if v is not None}
            for section, table in tiny_config().to_dict().items()}


@FUZZ
@given(st.lists(st.tuples(keys, values), min_size=1, max_size=4))
def test_config_mutations_validate_or_raise_config_errors(mutations):
    raw = _raw()
    for (section, key), value in mutations:
        raw[section][key] = value
    try:
        config = validate(raw)
    except EnresnetError:
        return
    assert validate({s: {k: v for k, v in t.items() if v is not None} for s, t in config.to_dict().items()}) == config
    assert to_toml(config)


@FUZZ
@given(keys, st.text(max_size=24))
def test_cli_set_values_validate_or_raise(tmp_path, monkeypatch, key, text):
    monkeypatch.setattr(train_module, "train", _stub)
    cfg = tmp_path / "c.toml"
    cfg.write_text(to_toml(tiny_config()))
    try:
        code = main(["train", str(cfg), "--out", str(tmp_path / "run"), "--set", f"{key[0]}.{key[1]}={text}"])
    except _Validated:
        return
    except SystemExit as exit_:  # argparse: usage error, exit status 2
        assert exit_.code == 2
        return
    assert code == 2


numbers = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=6))


def _run_cli(argv) -> None:
    try:
        assert main([str(a) for a in argv]) == 2
    except (_Validated, SystemExit) as stop:
        assert not isinstance(stop, SystemExit) or stop.code == 2


@FUZZ
@given(st.dictionaries(st.sampled_from(["--seed", "--grid", "--dt", "--velocity-mesh", "--slices",
                                        "--terminal-modes", "--sigmas", "--paths", "--mc-points", "--mc-dt"]),
                       numbers, max_size=4))
def test_pde_values(tmp_path, monkeypatch, flags):
    monkeypatch.setattr(pde_cli, "paper_problem", _stub)
    _run_cli(["pde", "--out", tmp_path / "pde", *[x for item in flags.items() for x in item]])


@FUZZ
@given(st.dictionaries(st.sampled_from(["--eps", "--steps", "--eot", "--alpha", "--limit", "--batch-size"]),
                       numbers, max_size=4))
def test_plot_eps_curve_values(tmp_path, monkeypatch, flags):
    monkeypatch.setattr(plot_cli, "draw_eps_figure", _stub)
    argv = ["plot", "eps-curve", "ckpt", "--dataset", "synthetic", "--out", tmp_path / "f.png"]
    _run_cli(argv + [x for item in flags.items() for x in item])


@pytest.mark.parametrize("value", [math.nan, math.inf, -1, 2**70])
def test_train_out_and_seed_edges(tmp_path, monkeypatch, value):
    monkeypatch.setattr(train_module, "train", _stub)
    cfg = tmp_path / "c.toml"
    cfg.write_text(to_toml(tiny_config()))
    (tmp_path / "file").write_text("x")
    _run_cli(["train", cfg, "--out", tmp_path / "file", "--set", f"train.seed={value}"])
    _run_cli(["train", cfg, "--out", tmp_path / "file" / "run"])
