"""The ``enresnet`` command's shell: lazy subcommands, ``enresnet models`` counts, Ctrl-C advice."""

import subprocess
import sys

import pytest

from enresnet.cli import COMMANDS, build_parser, main
from enresnet.model_names import UnknownModelError, list_models, parameter_count
from enresnet.models import create_model


def _subcommand_helps(parser):
    action = next(a for a in parser._actions if a.dest == "command")
    return {choice.dest: choice.help for choice in action._choices_actions}


def test_help_lists_every_command_without_importing_any_or_torch():
    code = (
        "import sys\nfrom enresnet.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "loaded = [m for m in sys.modules if m == 'torch' or m.startswith('enresnet.cli.')]\n"
        "print('LOADED', loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "LOADED []" in out
    for name in COMMANDS:
        assert f"    {name}" in out


def test_table_help_is_each_modules_own_help():
    assert _subcommand_helps(build_parser(None)) == {name: c.help for name, c in COMMANDS.items()}


def test_only_the_named_command_is_complete(capsys):
    parser = build_parser(["models", "resnet20"])
    assert parser.parse_args(["models", "resnet20"]).func.__module__ == "enresnet.cli.models"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "x.toml"])  # a placeholder: no arguments
    assert main(["models", "resnet20"]) == 0
    assert "0.272M" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["resnet20", "en2_resnet8", "wrn10_1", "wrn14_2", "en3_wrn16_1", "wrn20_1",
                                  "en1_resnet8+resnet14", "resnet8 + en2_wrn10_2"])
@pytest.mark.parametrize("classes,channels", [(10, 3), (100, 1)])
def test_parameter_count_equals_the_built_model(name, classes, channels):
    model = create_model(name, num_classes=classes, in_channels=channels)
    assert parameter_count(name, classes, channels) == sum(p.numel() for p in model.parameters())


def test_listed_counts_match_the_paper():
    assert {n: round(parameter_count(n) / 1e6, 2) for n in ("resnet20", "resnet44", "wrn14_2")} == {
        "resnet20": 0.27, "resnet44": 0.66, "wrn14_2": 0.69}
    assert len(list_models()) == len(set(list_models())) > 20


@pytest.mark.parametrize("name", ["foo", "resnet21", "wrn15_1", "wrn16_0", "en0_resnet20", "resnet20+"])
def test_rejected_names_get_the_registrys_message(name):
    with pytest.raises(UnknownModelError) as counted:
        parameter_count(name)
    with pytest.raises(UnknownModelError) as built:
        create_model(name)
    assert str(counted.value) == str(built.value)


def test_models_cli_error_is_one_line(capsys):
    assert main(["models", "resnet21"]) == 2
    assert capsys.readouterr().err.startswith("error: model name 'resnet21': CIFAR ResNet depth must be 6n+2")


def test_interrupted_train_says_how_to_continue(tmp_path, monkeypatch, capsys):
    import enresnet.cli.train as train_cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "run", interrupted)
    run = tmp_path / "run"
    assert main(["train", "config.toml", "--out", str(run)]) == 130
    assert "no checkpoint was written yet: run the same command again" in capsys.readouterr().err
    run.mkdir()
    (run / "last.safetensors").write_bytes(b"")
    assert main(["train", "config.toml", "--out", str(run)]) == 130
    assert "run the same command with --resume added to continue" in capsys.readouterr().err
    assert main(["train", "config.toml", "--out", str(run), "--resume"]) == 130
    assert "run the same command again to continue" in capsys.readouterr().err




def test_package_all_is_the_lazy_table():
    import enresnet

    assert sorted(enresnet.__all__) == sorted(["__version__", *enresnet._LAZY])


def test_pde_without_scipy_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    import sys

    for name in ("scipy.fft", "scipy.signal"):
        monkeypatch.setitem(sys.modules, name, None)  # as if scipy were not installed
    assert main(["pde", "--out", str(tmp_path), "--grid", "16"]) == 2
    assert "pip install 'enresnet[pde]'" in capsys.readouterr().err


def test_config_command_lists_shows_and_prints_defaults(capsys):
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    from enresnet.config import validate
    from enresnet.configs import CONFIG_DIR, config_names

    assert main(["config", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == config_names() and "quickstart" in config_names()
    assert all("enresnet reproduce cifar10-table7" in line for line in listed if line.startswith("cifar10/table7/"))
    assert main(["config", "show", "cifar10/table2/en5_resnet20"]) == 0
    assert capsys.readouterr().out == (CONFIG_DIR / "cifar10/table2/en5_resnet20.toml").read_text()
    assert main(["config", "show", "configs/quickstart.toml"]) == 0  # the form of paths inside configs
    assert capsys.readouterr().out == (CONFIG_DIR / "quickstart.toml").read_text()
    assert main(["config", "defaults"]) == 0
    assert validate(tomllib.loads(capsys.readouterr().out)) == validate({})


@pytest.mark.parametrize("name", ["nope", "../pyproject", "cifar10/table2"])
def test_unknown_config_is_one_line_naming_the_list(name, capsys):
    assert main(["config", "show", name]) == 2
    assert "`enresnet config list`" in capsys.readouterr().err


def test_studies_read_the_shipped_configs():
    from enresnet.configs import config_path
    from enresnet.reproduce import get_study

    table7 = get_study("cifar10-table7")
    assert len(table7.integrations) == 4  # the paper's four rows, not silently none
    for study in ("fmnist", "cifar10-table2", "cifar10-table7"):
        for model in get_study(study).models:
            assert config_path(model.config).is_file()
