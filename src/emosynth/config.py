"""One validation convention for every configuration, and the command string run.json records.

Every ``*Config`` dataclass has ``validate(self) -> None``; its library function calls it first, before
any model is loaded or file written. A bad value raises :class:`~emosynth.errors.ConfigError`, whose
message names the *parameter* (``cells must be at least 2, got 1``), never a command-line flag: a
notebook user sets ``cells=``, not ``--cells``. The CLI rewrites parameter names into its flags
(``emosynth.cli.FLAGS``) and prints one line, exit 2.

The checkers below return the value they checked, so ``validate`` methods read as a list of rules.
"""

from __future__ import annotations

import math
import numbers
import shlex
import sys
from collections.abc import Sequence

from .errors import ConfigError

__all__ = ["ConfigError", "SEED_LIMIT", "command_string", "check_seed", "check_finite", "check_positive",
           "check_range", "check_sam", "check_int_at_least", "check_choice"]

#: Seeds are integers 0 ≤ seed < 2**32: what numpy's legacy RandomState, scikit-learn's
#: ``random_state`` and ``torch.manual_seed`` all accept, so one seed means the same everywhere.
SEED_LIMIT = 2**32


def command_string(argv: Sequence[str] | None = None) -> str:
    """The command line as a user would retype it: ``"emosynth " + shlex.join(argv)``.

    Args:
        argv: The arguments after the program name; defaults to this process's (``sys.argv[1:]``).

    Returns:
        The command string, e.g. ``"emosynth edit photo.jpg --target 7,5,5"``.
    """
    args = sys.argv[1:] if argv is None else argv
    return "emosynth " + shlex.join(str(a) for a in args)


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def check_seed(name: str, v) -> int:
    """Check a seed: any integer 0 ≤ v < 2**32 (numpy, scikit-learn and torch all accept these).

    Args:
        name: The parameter's name, used in the error message.
        v: The value to check.

    Returns:
        ``v`` as an ``int``.

    Raises:
        ConfigError: ``v`` is not an integer from 0 to 2**32 - 1.
    """
    if not _is_int(v) or not 0 <= v < SEED_LIMIT:
        raise ConfigError(name, f"must be an integer from 0 to {SEED_LIMIT - 1} (2**32 - 1), got {v!r}")
    return int(v)


def check_finite(name: str, v) -> float:
    """Check a real number that is neither NaN nor ±inf.

    Args:
        name: The parameter's name, used in the error message.
        v: The value to check.

    Returns:
        ``v`` as a ``float``.

    Raises:
        ConfigError: ``v`` is not a finite real number.
    """
    if not _is_real(v) or not math.isfinite(v):
        raise ConfigError(name, f"must be a finite number, got {v!r}")
    return float(v)


def check_positive(name: str, v, *, allow_zero: bool = False) -> float:
    """Check a finite number > 0 (≥ 0 with ``allow_zero``).

    Args:
        name: The parameter's name, used in the error message.
        v: The value to check.
        allow_zero: Accept 0 as well.

    Returns:
        ``v`` as a ``float``.

    Raises:
        ConfigError: ``v`` is not finite or not positive.
    """
    if not _is_real(v) or not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ConfigError(name, f"must be a finite number {'≥' if allow_zero else '>'} 0, got {v!r}")
    return float(v)


def check_range(name: str, v, lo: float, hi: float) -> float:
    """Check a finite number with lo ≤ v ≤ hi.

    Args:
        name: The parameter's name, used in the error message.
        v: The value to check.
        lo: The smallest value allowed.
        hi: The largest value allowed.

    Returns:
        ``v`` as a ``float``.

    Raises:
        ConfigError: ``v`` is not a finite number in [lo, hi].
    """
    if not _is_real(v) or not math.isfinite(v) or not lo <= v <= hi:
        raise ConfigError(name, f"must be a number from {lo:g} to {hi:g}, got {v!r}")
    return float(v)


def check_sam(name: str, v) -> float:
    """Check a value on the SAM 1–9 scale (a V/A/D target).

    Args:
        name: The parameter's name, used in the error message (``valence 12 is off the SAM 1-9 scale``).
        v: The value to check, SAM 1–9.

    Returns:
        ``v`` as a ``float``.

    Raises:
        ConfigError: ``v`` is not a finite number from 1 to 9.
    """
    if not _is_real(v) or not math.isfinite(v) or not 1 <= v <= 9:
        shown = f"{v:g}" if _is_real(v) else repr(v)
        raise ConfigError(name, f"{{{name}}} {shown} is off the SAM 1-9 scale", lead=False)
    return float(v)


def check_int_at_least(name: str, v, least: int, what: str = "") -> int:
    """Check an integer ≥ ``least``.

    Args:
        name: The parameter's name, used in the error message.
        v: The value to check.
        least: The smallest value allowed.
        what: Text appended to the rule (``cells must be at least 2 per dimension``).

    Returns:
        ``v`` as an ``int``.

    Raises:
        ConfigError: ``v`` is not an integer or is below ``least``.
    """
    if not _is_int(v) or v < least:
        raise ConfigError(name, f"must be at least {least}{' ' + what if what else ''}, got {v!r}")
    return int(v)


def check_choice(name: str, v, choices: Sequence[str]) -> str:
    """Check that a value is one of ``choices``.

    Args:
        name: The parameter's name, used in the error message.
        v: The value to check.
        choices: The allowed values.

    Returns:
        ``v`` unchanged.

    Raises:
        ConfigError: ``v`` is not in ``choices``.
    """
    if v not in choices:
        raise ConfigError(name, f"unknown {name} {v!r}; choose one of {', '.join(choices)}", lead=False)
    return v
