"""Every config key is checked up front: the error names the key and what to set, before any work."""

import time

import pytest

from enresnet.cli import main
from enresnet.config import load_config, pixel_value, settings
from enresnet.errors import ConfigError
from enresnet.train import train

from helpers import tiny_config, write_config

NAMES = {"model": '"en1_resnet8"', "data": '"synthetic"'}


def _with_names(text: str) -> str:
    """``text`` with the model and dataset named (in its own [model]/[data] tables when it has them)."""
    for section, name in NAMES.items():
        header = f"[{section}]\n"
        text = text.replace(header, f"{header}name = {name}\n") if header in text else f"{header}name = {name}\n" + text
    return text


def _load(tmp_path, text: str):
    path = tmp_path / "cfg.toml"
    path.write_text(text)
    return load_config(path)


@pytest.mark.parametrize("text, match", [
    ("[train]\nmomentum = 0.0\n", r"train.nesterov = true needs train.momentum > 0"),
    ("[train]\nseed = -1\n", r"train.seed\) must be an integer in \[0, 2\*\*63\)"),
    ("[train]\nseed = 9223372036854775808\n", r"train.seed\) must be an integer in \[0, 2\*\*63\)"),
    ("[data]\nsplit_seed = -5\n", r"data.split_seed\) must be an integer in \[0, 2\*\*63\)"),
    ("[data]\noptions = { size = 0 }\n", r"data.options.size must be an integer in \[1, 512\]"),
    ("[data]\noptions = { sizee = 8 }\n", r"data.options.sizee is not an option of the synthetic loader"),
    ("[data]\noptions = { download = false }\n", r"download is not an option .*use data.download"),
    ("[model]\ninput_mean = [0.5]\ninput_std = [0.2]\n", "input_mean has 1 values but synthetic images have 3"),
    ("[model]\ninput_mean = [0.5, 0.5, nan]\ninput_std = [1, 1, 1]\n", "input_mean.* must be a list of finite"),
    ("[train]\nlr = 1e6\n", r"train.lr\) must be in \(0, 100\]"),
    ("[attack]\neps = 1.5\n", r"attack.eps\) must be in \[0, 1\]"),
    ("[attack]\neps = 1e30\n", r"attack.eps\) must be in \[0, 1\]"),
    ("[attack]\nalpha = 2.0\n", r"attack.alpha\) must be in \(0, 1\]"),
    ('[attack]\neps = "1e400"\n', r"attack.eps\) must be a number or a fraction like \"8/255\", got '1e400'"),
    ('[attack]\nalpha = "1e-99999999"\n', r"attack.alpha\) must be a number or a fraction"),
    (f'[attack]\neps = "{"9" * 100000}/255"\n', r"attack.eps\) must be .*got '9999.*\.\.\. \(100006 characters\)"),
    ("[attack]\nsteps = 1000000000\n", r"attack.steps\) must be in \[1, 1000\]"),
    ("[validation]\nattack_steps = 5000\n", r"validation.attack_steps\) must be in \[0, 1000\]"),
    ("[data]\npadding = 1000000\n", r"data.padding \(1000000\) must be at most the image size \(32\)"),
    ("[train]\nepochs = 10000000000000000000000\n", "train.epochs.* must be > 0 \\(a 64-bit integer\\)"),
    ('[train]\nmethod = "natural"\nselect = "robust"\n', 'select = "robust" needs robust validation'),
    ('[train]\nselect = "robust"\n[validation]\nattack_steps = 0\n', 'select = "robust" needs robust validation'),
])
def test_bad_value_names_key_and_fix(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        _load(tmp_path, _with_names(text))


def test_empty_config_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="does not set model.name and data.name.*200-epoch CIFAR-10"):
        _load(tmp_path, "")
    with pytest.raises(ConfigError, match="does not set data.name"):
        _load(tmp_path, '[model]\nname = "resnet8"\n')


def test_non_utf8_config(tmp_path, capsys):
    (tmp_path / "c.toml").write_bytes(_with_names("").encode() + b'[train]\n# caf\xe9\n')
    assert main(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text" in err and "save it as UTF-8" in err and "Traceback" not in err


def test_set_on_a_non_table_section(tmp_path):
    (tmp_path / "c.toml").write_text('model = 3\n')
    with pytest.raises(ConfigError, match=r"\[model\] must be a table"):
        load_config(tmp_path / "c.toml", settings(model={"name": "resnet8"}))


def test_a_large_seed_trains(tmp_path):
    config = tiny_config(model={"name": "resnet8"}, train={"epochs": 1, "seed": 20240101},
                         data={"split_seed": 2**62, "options": {"num_samples": 96, "size": 8, "seed": 2**40}})
    rows = train(config, tmp_path / "run", quiet=True)
    assert len(rows) == 1 and rows[0]["val_nat_acc"] is not None


def test_config_from_the_cli_with_a_large_seed_validates(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.toml", tiny_config(train={"epochs": 1}))
    assert main(["train", str(cfg), "--set", "train.seed=2**70", "--out", str(tmp_path / "r")]) == 2
    assert "train.seed) must be an integer" in capsys.readouterr().err


HUGE = ["1e400", "-1e400", "1e10000000", "1e-10000000", "9" * 100000, "1/" + "9" * 100000, "1e999", "1/0", "nan",
        "inf", "0x1p3", "1_000", ""]


@pytest.mark.parametrize("text", HUGE)
def test_pixel_values_are_bounded_before_arithmetic(text):
    """Issue 20: ``pixel_value("1e10000000")`` computed for minutes and ``"1e400"`` raised OverflowError; every
    such text is now a ConfigError at once."""
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="is not a finite number or a fraction like \"8/255\" of at most 32"):
        pixel_value(text)
    assert time.perf_counter() - start < 0.1


def test_pixel_values_keep_their_exact_values():
    assert pixel_value("8/255") == 8 / 255 and pixel_value(" 8 / 255 ") == 8 / 255
    assert pixel_value("0.1") == 0.1 and pixel_value("1e-3") == 0.001 and pixel_value(".5") == 0.5
    assert pixel_value("1e-400") == 0.0 and pixel_value("-2/255") == -2 / 255


@pytest.mark.parametrize("argv", [["evaluate", "ckpt", "--eps", "1e400"], ["evaluate", "ckpt", "--alpha", "1e9999999"],
                                  ["plot", "eps-curve", "ckpt", "--eps", "0,1e400"]])
def test_huge_numbers_on_the_command_line(argv, capsys):
    start = time.perf_counter()
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and f"argument {argv[-2]}: " in err and "Traceback" not in err
    assert time.perf_counter() - start < 5  # the parser, not a computation


def test_an_override_of_too_many_digits(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.toml", tiny_config(train={"epochs": 1}))
    assert main(["train", str(cfg), "--set", f"train.seed={'9' * 5000}", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--set train.seed: the value has 5000 characters" in err and not (tmp_path / "r").exists()


def test_the_sections_dataclasses_hold_the_schema_keys_and_round_trip():
    """Each section's dataclass has the schema's keys in its order; the file form validates back to the same
    config, frozen; extends() lets train.epochs alone differ (what --resume accepts)."""
    from dataclasses import FrozenInstanceError, fields

    from enresnet.config import SCHEMA, SECTIONS, validate

    assert list(SECTIONS) == list(SCHEMA)
    for section, keys in SCHEMA.items():
        assert [f.name for f in fields(SECTIONS[section])] == list(keys), section
    config = tiny_config(model={"input_mean": [0.5] * 3, "input_std": [0.25] * 3})
    assert config.train.milestones == (100,) and config.model.input_std == (0.25,) * 3
    assert validate(config.to_dict()) == config and config.to_dict()["train"]["milestones"] == [100]
    with pytest.raises(FrozenInstanceError):
        config.train.lr = 1.0
    started = tiny_config().to_dict()
    assert tiny_config(train={"epochs": 7}).extends(started)
    assert not tiny_config(train={"lr": 0.2}).extends(started) and not config.extends(started)
