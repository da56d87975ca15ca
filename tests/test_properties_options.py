"""Property tests of the option parsers and configurations (issue 15, "arbitrary numbers"): whatever number
a user types for a seed, a learning rate, a sigma, a size or a count, emosynth either accepts it or stops
with one line and exit 2, never a traceback, and writes nothing at all when it stops.

Two properties: every configuration's ``validate()`` raises nothing but ``ConfigError`` for any value of
any numeric field; and on the command line a value ``validate()`` refuses (or the option's type refuses)
is one ``error:`` line, exit 2, with no file or folder created. Values that pass are not run (that would
be real work); the library property covers them. Bounded: a few dozen examples each, no example database.
"""

import contextlib
import io
import math
import os
import tempfile
from dataclasses import fields, replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import emosynth.explore  # noqa: F401 — import the commands' libraries once, outside the deadline
import emosynth.synth  # noqa: F401
from emosynth.cli import main
from emosynth.compare import CompareConfig
from emosynth.errors import ConfigError
from emosynth.explore import VisualizeConfig
from emosynth.models import PredictorConfig
from emosynth.synth import EvolveConfig, GenerateConfig, GeneratorConfig

BOUNDED = settings(max_examples=25, deadline=timedelta(seconds=5), database=None,
                   suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
CLI_BOUNDED = settings(BOUNDED, max_examples=12)

#: any number a user might type: huge and negative integers, NaN, ±inf, subnormals, -0.0
NUMBERS = st.one_of(st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, -1, 2**32 - 1, 2**32, 2**63, 0.0, -0.0, 1e-300, 1e300, math.inf, math.nan]))

CONFIGS = (EvolveConfig(space="va"), EvolveConfig(), GeneratorConfig(), VisualizeConfig(), GenerateConfig(),
           PredictorConfig(), CompareConfig())


def _numeric_fields(cfg):
    return [f.name for f in fields(cfg) if isinstance(getattr(cfg, f.name), (int, float))
            and not isinstance(getattr(cfg, f.name), bool)] + [f.name for f in fields(cfg)
                                                                if f.name in ("sigma", "lr", "valence", "arousal")
                                                                and getattr(cfg, f.name) is None]


CASES = [(cfg, name) for cfg in CONFIGS for name in _numeric_fields(cfg)]


@pytest.mark.parametrize("cfg,name", CASES, ids=[f"{type(c).__name__}.{n}" for c, n in CASES])
@BOUNDED
@given(value=NUMBERS)
def test_validate_raises_nothing_but_config_error(cfg, name, value):
    try:
        replace(cfg, **{name: value}).validate()
    except ConfigError as e:
        assert str(e).startswith(name + " ") or name in str(e), str(e)  # it names a parameter
        assert "\n" not in str(e) and "--" not in str(e)


#: (command line before the value, the option, its click type, the config the library builds, its field)
OPTIONS = [
    (["evolve"], "--seed", int, EvolveConfig(), "seed"),
    (["evolve"], "--sigma", float, EvolveConfig(), "sigma"),
    (["evolve"], "--lr", float, EvolveConfig(), "lr"),
    (["evolve", "--space", "va"], "--cells", int, EvolveConfig(space="va"), "cells"),
    (["evolve"], "--batch", int, EvolveConfig(), "batch"),
    (["evolve"], "--iterations", int, EvolveConfig(), "iterations"),
    (["evolve"], "--export-size", int, EvolveConfig(), "export_size"),
    (["generator", "train"], "--lr", float, GeneratorConfig(), "lr"),
    (["generator", "train"], "--diversity", float, GeneratorConfig(), "diversity"),
    (["generator", "train"], "--seed", int, GeneratorConfig(), "seed"),
    (["generator", "train"], "--batch", int, GeneratorConfig(), "batch"),
    (["generator", "train"], "--realism-weight", float, GeneratorConfig(), "realism_weight"),
    (["visualize"], "--lr", float, VisualizeConfig(), "lr"),
    (["visualize"], "--size", int, VisualizeConfig(), "size"),
    (["visualize"], "--seed", int, VisualizeConfig(), "seed"),
    (["generate", "--arousal", "5"], "--valence", float, GenerateConfig(arousal=5.0), "valence"),
    (["generate", "--sweep"], "--n", int, GenerateConfig(sweep=True), "n"),
    (["generate"], "--seed", int, GenerateConfig(), "seed"),
    (["demo"], "--iterations", int, None, "iterations"),
]


def _text(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _valid(kind, cfg, name, value) -> bool:
    """Would the command line accept ``value``: the option's type parses it and validate() passes?"""
    if kind is int and isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            return False  # typer refuses '1.5' or 'nan' for an integer option (a usage error, exit 2)
        value = int(value)  # but takes '0.0' or '-0.0' as 0
    if cfg is None:  # demo: its runs' configurations
        from emosynth.synth import demo_configs

        try:
            demo_configs(0, int(value))
            return True
        except ConfigError:
            return False
    try:
        replace(cfg, **{name: kind(value)}).validate()
        return True
    except (ConfigError, OverflowError, ValueError):
        return False


@pytest.mark.parametrize("head,option,kind,cfg,name", OPTIONS, ids=[" ".join(o[0][:2]) + " " + o[1] for o in OPTIONS])
@CLI_BOUNDED
@given(value=NUMBERS)
def test_a_refused_number_is_one_line_and_writes_nothing(head, option, kind, cfg, name, value):
    assume(not _valid(kind, cfg, name, value))
    with tempfile.TemporaryDirectory() as d:
        here = os.getcwd()
        os.chdir(d)  # anything written relative to the working folder would show up here
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
                try:
                    main([*head, option, _text(value), "--out", str(Path(d) / "out")])
                    code = 0
                except SystemExit as e:
                    code = e.code
        finally:
            os.chdir(here)
        text = stderr.getvalue()
        assert code == 2, text
        assert "Traceback" not in text
        lines = [ln for ln in text.splitlines() if ln.strip()]
        # ours: one "error:" line; click's usage errors: a boxed message that names the option
        assert (len(lines) == 1 and lines[0].startswith("error: ")) or "Invalid value" in text, text
        assert os.listdir(d) == [], os.listdir(d)
