"""Every command alike: a description, help on every argument, ``--quiet``; ``--threads`` where it computes."""

import argparse

import pytest

from enresnet.cli import COMMANDS, build_parser, main

COMPUTING = {"train", "evaluate", "transfer", "reproduce", "plot examples", "plot eps-curve"}
"""The commands whose work runs torch's threads: they take ``--threads``."""


def _parsers(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """{"evaluate": parser, "plot": parser, "plot training": parser, ...}: every (sub-)command below ``parser``."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[f"{prefix}{name}"] = sub
                found.update(_parsers(sub, f"{prefix}{name} "))
    return found


PARSERS = _parsers(build_parser(None))


def test_every_command_and_sub_command_is_listed():
    assert set(COMMANDS) < set(PARSERS)
    assert {"plot training", "plot examples", "plot eps-curve", "config list", "config show", "config path",
            "config defaults"} < set(PARSERS)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_help_has_a_description_quiet_and_help_on_every_argument(name):
    parser = PARSERS[name]
    assert parser.description and len(parser.description) > 20, f"{name}: no description"
    text = parser.format_help()  # what `enresnet NAME --help` prints
    assert parser.description.split()[0] in text and "--quiet" in text
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            assert all(choice.help for choice in action._choices_actions), name
        else:
            assert action.help and action.help != argparse.SUPPRESS, f"{name}: {action.dest} has no help"
    assert ("--threads" in text) == (name in COMPUTING), name


@pytest.mark.parametrize("argv, quiet", [
    (["plot", "training", "run", "--out", "f.png"], False),
    (["plot", "training", "run", "--out", "f.png", "--quiet"], True),
    (["plot", "--quiet", "training", "run", "--out", "f.png"], True),  # before the figure: kept
    (["config", "--quiet", "list"], True),
    (["config", "list", "--quiet"], True),
    (["models", "--quiet"], True),
])
def test_quiet_is_taken_before_or_after_a_sub_command(argv, quiet):
    assert build_parser(argv).parse_args(argv).quiet is quiet


def test_quiet_silences_the_wrote_lines(tmp_path, capsys):
    import json

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "train_acc": 0.5, "val_nat_acc": 0.4,
                                                   "val_rob_acc": 0.2}) + "\n")
    assert main(["plot", "training", str(run), "--out", str(tmp_path / "a.png"), "--quiet"]) == 0
    assert capsys.readouterr().out == "" and (tmp_path / "a.png").stat().st_size > 0
    assert main(["plot", "training", str(run), "--out", str(tmp_path / "b.png")]) == 0
    assert capsys.readouterr().out.startswith("wrote ")


def test_attack_names_are_in_the_help_when_it_is_shown():
    text = PARSERS["evaluate"].format_help()
    assert "valid: fgsm, ifgsm[N], pgd[N], cw" in " ".join(text.split())
