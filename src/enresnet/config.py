"""Experiment configuration: a TOML file validated against a schema before any work.

Sections and keys are listed in :data:`SCHEMA` with their type, default and the
values allowed; the defaults are the paper's (Sec. 3.3, 4.1; Algorithm 1).
Unknown keys, wrong types and bad values raise :class:`~enresnet.errors.ConfigError`
naming the key, its path in the file and what is allowed. Perturbation sizes
may be written as fractions, e.g. ``eps = "8/255"``. Validation imports no torch
and builds no model (:func:`enresnet.model_names.architecture` checks a model
name), so that a bad config is refused at once.

The validator's result is a :class:`Config`: one frozen dataclass per section
(:class:`ModelConfig`, :class:`DataConfig`, :class:`TrainConfig`,
:class:`AttackConfig`, :class:`ValidationConfig`), read by attribute.
:meth:`Config.to_dict` is its file form (the run directory's ``config.json``, a
checkpoint's training state), which :func:`validate` reads back.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .data import DATASETS, DEFAULT_DATA_DIR, SEED_LIMIT, check_options, image_shape
from .errors import ConfigError
from .model_names import UnknownModelError, architecture


@dataclass(frozen=True)
class Key:
    """One config key: its kind, default, a check on its value and what is allowed."""

    kind: str  # "int", "float", "bool", "auto-bool", "str", "list[int]", "list[float]", "table"
    default: Any
    check: Callable[[Any], bool] = lambda v: True
    allowed: str = ""


def _nonneg(v):
    return v >= 0


def _pos(v):
    return v > 0


def _seed(v):
    return 0 <= v < SEED_LIMIT


def _choice(*options):
    return Key("str", options[0], lambda v: v in options, f"one of {', '.join(map(repr, options))}")


MAX_STEPS = 1000
"""The most attack iterations a config may ask for (the paper uses at most 20 for training and validation)."""

SCHEMA: dict[str, dict[str, Key]] = {
    "model": {
        "name": Key("str", "en1_resnet20", allowed="a model name (see `enresnet models`)"),
        "noise_coef": Key("float", 0.1, lambda v: 0 <= v <= 10, "in [0, 10] (paper: 0.1)"),
        "std_mode": _choice("tensor", "sample"),
        "dropout": Key("float", 0.0, lambda v: 0 <= v < 1, "in [0, 1)"),
        "input_mean": Key("list[float]", None, allowed="a per-channel list, with input_std"),
        "input_std": Key("list[float]", None, lambda v: all(s > 0 for s in v), "positive per-channel values"),
    },
    "data": {
        "name": Key("str", "cifar10", lambda v: v in DATASETS, f"one of {', '.join(DATASETS)}"),
        "data_dir": Key("str", DEFAULT_DATA_DIR),
        "download": Key("bool", True),
        "val_size": Key("int", 5000, _nonneg, ">= 0 (paper: 5000 of CIFAR's 50k)"),
        "train_limit": Key("int", 0, _nonneg, ">= 0 (0: all training images)"),
        "augment": Key("bool", True),
        "padding": Key("int", 4, _nonneg, ">= 0 pixels, at most the image size"),
        "flip": Key("bool", True),
        "split_seed": Key("int", 0, _seed, "an integer in [0, 2**63)"),
        "options": Key("table", {}, allowed="a table of loader options (synthetic: num_samples, size, ...)"),
    },
    "train": {
        "method": _choice("pgd", "natural", "trades"),
        "epochs": Key("int", 200, _pos, "> 0"),
        "batch_size": Key("int", 128, _pos, "> 0"),
        "lr": Key("float", 0.1, lambda v: 0 < v <= 100, "in (0, 100] (paper: 0.1)"),
        "momentum": Key("float", 0.9, lambda v: 0 <= v < 1, "in [0, 1)"),
        "nesterov": Key("bool", True),
        "weight_decay": Key("float", 5e-4, lambda v: 0 <= v <= 1, "in [0, 1] (paper: 5e-4)"),
        "milestones": Key("list[int]", [80, 120, 160], lambda v: all(m > 0 for m in v) and v == sorted(v),
                          "increasing positive epochs"),
        "gamma": Key("float", 0.1, lambda v: 0 < v <= 1, "in (0, 1]"),
        "seed": Key("int", 0, _seed, "an integer in [0, 2**63)"),
        "select": _choice("auto", "robust", "natural"),
        "attack_bn_mode": _choice("train", "eval"),
        "trades_beta": Key("float", 6.0, lambda v: 0 <= v <= 1000, "in [0, 1000] (TRADES: 6)"),
        "ensemble_weight_lr": Key("float", 0.0, lambda v: 0 <= v <= 100,
                                  "in [0, 100] (0: follow the learning-rate schedule)"),
        "checkpoint_every": Key("int", 0, _nonneg, ">= 0 steps (0: at the end of each epoch only)"),
        "device": Key("str", "auto", allowed="'auto', 'cpu', 'cuda' or 'cuda:N'"),
        "sync_batchnorm": Key("bool", False),
        "amp": _choice("auto", "none", "bf16"),
        "channels_last": Key("auto-bool", "auto"),
        "capture": Key("auto-bool", "auto"),
        "compile": Key("bool", False),
    },
    "attack": {
        "eps": Key("float", 8 / 255, lambda v: 0 <= v <= 1, "in [0, 1], in pixel units (e.g. \"8/255\")"),
        "alpha": Key("float", 2 / 255, lambda v: 0 < v <= 1, "in (0, 1], in pixel units (e.g. \"2/255\")"),
        "steps": Key("int", 10, lambda v: 1 <= v <= MAX_STEPS, f"in [1, {MAX_STEPS}]"),
        "random_start": Key("bool", True),
        "clip_start": Key("bool", False),
    },
    "validation": {
        "batch_size": Key("int", 256, _pos, "> 0"),
        "limit": Key("int", 0, _nonneg, ">= 0 (0: the whole validation split)"),
        "attack_steps": Key("int", 20, lambda v: 0 <= v <= MAX_STEPS,
                            f"in [0, {MAX_STEPS}] (IFGSM steps for robust accuracy; 0: skip)"),
        "every": Key("int", 1, _pos, "> 0 epochs"),
    },
}

_FLOAT_KEYS_WITH_FRACTIONS = {("attack", "eps"), ("attack", "alpha")}


MAX_NUMBER_TEXT = 32
"""The longest text a number or fraction may be written with (a float's repr needs at most 24 characters)."""
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?|[+-]?\d+/\d+")
"""A decimal number with an exponent of at most 3 digits, or a fraction of integers: bounded work for
:class:`~fractions.Fraction`, which computes ``10**exponent`` exactly."""


def _fraction(text: str) -> float:
    """A finite number written as a decimal or a fraction (``"8/255"``), checked before any arithmetic: a text of
    more than :data:`MAX_NUMBER_TEXT` characters or an exponent of more than 3 digits is refused at once."""
    fail = ConfigError(f"{text[:MAX_NUMBER_TEXT]!r}{'...' if len(text) > MAX_NUMBER_TEXT else ''} is not a finite "
                       f"number or a fraction like \"8/255\" of at most {MAX_NUMBER_TEXT} characters")
    if len(text) > MAX_NUMBER_TEXT or not _NUMBER.fullmatch(text.replace(" ", "")):
        raise fail
    try:
        value = float(Fraction(text.replace(" ", "")))
    except (ZeroDivisionError, OverflowError):
        raise fail from None
    return value


def pixel_value(text: str) -> float:
    """A perturbation size in pixel units, as a number or a fraction (``"8/255"``, ``"0.1"``): the one
    syntax of the config's ``attack.eps``/``alpha`` and of every command's ``--eps``/``--alpha``; anything else
    (``"1e400"``, a huge text) is a :class:`~enresnet.errors.ConfigError` at once."""
    return _fraction(text)


def _coerce(section: str, name: str, key: Key, value: Any, where: str) -> Any:
    path = f"{section}.{name}"

    def fail(expected: str) -> ConfigError:
        shown = repr(value)
        shown = shown if len(shown) <= 80 else f"{shown[:60]}... ({len(shown)} characters)"
        return ConfigError(f"{where}: [{section}] {name} ({path}) must be {expected}, got {shown}")

    if key.kind == "float":
        if (section, name) in _FLOAT_KEYS_WITH_FRACTIONS and isinstance(value, str):
            try:
                value = _fraction(value)
            except ValueError:
                raise fail("a number or a fraction like \"8/255\"") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        value = float(value)
        if not math.isfinite(value):
            raise fail("a finite number")
    elif key.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        if not -(2**63) <= value < 2**63:
            raise fail(f"{key.allowed or 'an integer'} (a 64-bit integer)")
    elif key.kind == "bool":
        if not isinstance(value, bool):
            raise fail("true or false")
    elif key.kind == "auto-bool":
        if not isinstance(value, bool) and value != "auto":
            raise fail('true, false or "auto" (chosen by device)')
    elif key.kind == "str":
        if not isinstance(value, str):
            raise fail("a string")
    elif key.kind == "table":
        if not isinstance(value, dict):
            raise fail("a table")
    elif key.kind.startswith("list["):
        item = int if key.kind == "list[int]" else (int, float)
        if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, item) for v in value):
            raise fail(f"a list of {'integers' if item is int else 'numbers'}")
        if any(not math.isfinite(v) or abs(v) >= 2**63 for v in value):
            raise fail("a list of finite numbers")
        if item is not int:
            value = [float(v) for v in value]
    if not key.check(value):
        raise fail(key.allowed)
    return value


def _unknown(where: str, what: str, shown: str, name: str, allowed: list[str], fmt: str) -> ConfigError:
    """An error for an unknown ``name``, with the closest allowed one (formatted by ``fmt``) as a hint."""
    hint = difflib.get_close_matches(name, allowed, n=1)
    suggestion = f" (did you mean {fmt.format(hint[0])}?)" if hint else ""
    return ConfigError(f"{where}: unknown {what} {shown}{suggestion}; allowed {what}s: {', '.join(allowed)}")


@dataclass(frozen=True)
class ModelConfig:
    """[model]: the network (:func:`enresnet.models.create_model`) and its noise (paper Eq. 9, ``a = noise_coef``)."""

    name: str
    noise_coef: float
    std_mode: str
    dropout: float
    input_mean: tuple[float, ...] | None
    input_std: tuple[float, ...] | None


@dataclass(frozen=True)
class DataConfig:
    """[data]: the dataset, its train/validation split and the augmentation (paper Sec. 4.1)."""

    name: str
    data_dir: str
    download: bool
    val_size: int
    train_limit: int
    augment: bool
    padding: int
    flip: bool
    split_seed: int
    options: dict[str, Any]


@dataclass(frozen=True)
class TrainConfig:
    """[train]: the objective, the SGD optimiser and its schedule (paper Sec. 3.3, 4.1, Algorithm 1), the
    learning rate of an ensemble's learned weights (Sec. 5: ``ensemble_weight_lr``, 0 follows ``lr``'s
    schedule), checkpoints and the device's speed options."""

    method: str
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    milestones: tuple[int, ...]
    gamma: float
    seed: int
    select: str
    attack_bn_mode: str
    trades_beta: float
    ensemble_weight_lr: float
    checkpoint_every: int
    device: str
    sync_batchnorm: bool
    amp: str
    channels_last: bool | str
    capture: bool | str
    compile: bool


@dataclass(frozen=True)
class AttackConfig:
    """[attack]: the training attack's budget in pixel units (Algorithm 1: eps 8/255, alpha 2/255, 10 steps)."""

    eps: float
    alpha: float
    steps: int
    random_start: bool
    clip_start: bool


@dataclass(frozen=True)
class ValidationConfig:
    """[validation]: the accuracy measured after training epochs, on which the kept model is chosen."""

    batch_size: int
    limit: int
    attack_steps: int
    every: int


@dataclass(frozen=True)
class Config:
    """A validated experiment configuration (made by :func:`validate` or :func:`load_config` only)."""

    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    attack: AttackConfig
    validation: ValidationConfig

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The file form: every section and key in :data:`SCHEMA`'s order, lists as lists (JSON, TOML)."""
        return {
            section: {name: _plain(getattr(getattr(self, section), name)) for name in keys}
            for section, keys in SCHEMA.items()
        }

    def extends(self, started: dict[str, Any]) -> bool:
        """Whether this config continues a run started with ``started`` (a config's file form, as a checkpoint
        keeps it): the same but for ``train.epochs``, the one key a resumed run may change."""
        train = started.get("train")
        same_epochs = {**started, "train": {**train, "epochs": self.train.epochs}} if isinstance(train, dict) else None
        return same_epochs == self.to_dict()


SECTIONS: dict[str, type] = {
    "model": ModelConfig, "data": DataConfig, "train": TrainConfig, "attack": AttackConfig,
    "validation": ValidationConfig,
}
"""The dataclass of each section of :data:`SCHEMA` (their fields are its keys, in its order)."""


def _plain(value: Any) -> Any:
    """A field's file form: tuples as lists, tables copied."""
    if isinstance(value, tuple):
        return list(value)
    return copy.deepcopy(value) if isinstance(value, dict) else value


def _frozen(value: Any) -> Any:
    """A validated value as a field holds it: lists as tuples."""
    return tuple(value) if isinstance(value, list) else value


def validate(raw: dict[str, Any], where: str = "config") -> Config:
    """Check ``raw`` (a config's file form) against :data:`SCHEMA`, fill in defaults; returns the :class:`Config`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the config must be a table of sections")
    sections: dict[str, Any] = {}
    for section in raw:
        if section not in SCHEMA:
            raise _unknown(where, "section", f"[{section}]", section, list(SCHEMA), "[{}]")
        if not isinstance(raw[section], dict):
            raise ConfigError(f"{where}: [{section}] must be a table of keys, got {raw[section]!r}")
    for section, keys in SCHEMA.items():
        given = raw.get(section, {})
        for name in given:
            if name not in keys:
                raise _unknown(where, "key", f"{section}.{name} in [{section}]", name, list(keys), section + ".{}")
        sections[section] = SECTIONS[section](**{
            name: _frozen(
                _coerce(section, name, key, given[name], where) if name in given else copy.deepcopy(key.default)
            )
            for name, key in keys.items()
        })
    config = Config(**sections)
    _check_together(config, where)
    return config


def _check_together(config: Config, where: str) -> None:
    """Checks across keys: data options and shapes, optimiser, model selection, model name, device."""
    model, data, train = config.model, config.data, config.train
    check_options(data.name, data.options, where=f"{where}: data.options")
    channels, height, _ = image_shape(data.name, data.options)
    if (model.input_mean is None) != (model.input_std is None):
        raise ConfigError(f"{where}: give both model.input_mean and model.input_std, or neither")
    for key, values in (("input_mean", model.input_mean), ("input_std", model.input_std)):
        if values is not None and len(values) != channels:
            raise ConfigError(
                f"{where}: model.{key} has {len(values)} values but {data.name} images have {channels} "
                f"channels; give one value per channel"
            )
    if data.padding > height:
        raise ConfigError(f"{where}: data.padding ({data.padding}) must be at most the image size ({height})")
    if train.nesterov and train.momentum == 0:
        raise ConfigError(f"{where}: train.nesterov = true needs train.momentum > 0 (paper: 0.9); "
                          f"set a momentum or nesterov = false")
    robust = train.method != "natural" and config.validation.attack_steps > 0
    if train.select == "robust" and not robust:
        raise ConfigError(
            f"{where}: train.select = \"robust\" needs robust validation (train.method pgd or trades and "
            f"validation.attack_steps > 0); set them, or select = \"natural\""
        )
    try:  # the name's grammar and architecture rules; nothing is built
        architecture(model.name)
    except UnknownModelError as err:
        raise ConfigError(f"{where}: model.name: {err}") from None
    device = train.device
    if device not in ("auto", "cpu", "cuda") and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise ConfigError(f"{where}: train.device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


@dataclass(frozen=True)
class Setting:
    """One ``section.key = value`` laid over a config file before it is validated: what ``--set`` gives and
    what a scale of ``enresnet reproduce`` changes (:func:`settings`). A wrong key or value is refused by
    :func:`validate` with the file's own messages."""

    section: str
    key: str
    value: Any

    @classmethod
    def parse(cls, text: str) -> Setting:
        """``section.key=value`` (value in TOML syntax, bare words as strings), as ``--set`` takes it."""
        if "=" not in text or "." not in text.split("=", 1)[0]:
            raise ConfigError(f"--set expects section.key=value, got {text!r}")
        lhs, rhs = text.split("=", 1)
        section, key = lhs.strip().split(".", 1)
        try:
            value = tomllib.loads(f"v = {rhs.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = rhs.strip()
        except ValueError:  # an integer of more digits than Python converts (4300)
            raise ConfigError(f"--set {lhs.strip()}: the value has {len(rhs.strip())} characters, more than any key "
                              f"allows") from None
        return cls(section, key, value)


def settings(**sections: dict[str, Any]) -> tuple[Setting, ...]:
    """``settings(data={"train_limit": 1200}, train={"epochs": 2})`` as :class:`Setting` s, in order."""
    return tuple(Setting(section, key, value) for section, values in sections.items() for key, value in values.items())


def load_config(path: str | Path, overrides: Sequence[Setting] = ()) -> Config:
    """Read a TOML config, lay ``overrides`` over it in order (a later one wins) and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path} ({err.strerror})") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    for setting in overrides:
        if not isinstance(raw.setdefault(setting.section, {}), dict):
            raise ConfigError(f"{path}: [{setting.section}] must be a table of keys, got {raw[setting.section]!r}")
        raw[setting.section][setting.key] = setting.value
    config = validate(raw, where=str(path))
    missing = [f"{section}.name" for section in ("model", "data") if "name" not in raw.get(section, {})]
    if missing:
        raise ConfigError(
            f"{path} does not set {' and '.join(missing)}; a config names its model and dataset "
            f"(the defaults would start a 200-epoch CIFAR-10 run): see `enresnet config show quickstart`"
        )
    return config


def to_toml(config: Config) -> str:
    """Write a validated config back as TOML (used for the run directory's copy)."""

    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {fmt(x)}" for k, x in v.items()) + " }"
        return str(v)

    lines = []
    for section, values in config.to_dict().items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {fmt(v)}" for k, v in values.items() if v is not None]
        lines.append("")
    return "\n".join(lines)
