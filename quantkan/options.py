"""The command line's conventions, defined once so every command (and every new one) follows them.

The rules (docs/reference.md lists them for users):

* a command's first argument is the config file (TOML) it reads;
* ``-o/--output`` names what a command writes (a file or a folder);
* ``--model FILE`` is always a saved model (``.qkan``); a model *kind* is ``--kind kan|mlp``;
* counts (``--n``, ``--samples``, ``--baud``, ...) are validated when parsed: a count of
  things to make is a positive integer, a count of extra checks may be 0 (= none); no value
  ever silently means "the default";
* every option has help, and ``--help`` shows its default;
* renamed options keep working for a while as deprecated aliases that warn.

Every subcommand parser is a :class:`Parser`, because ``quantkan.cli`` hands that class to
``add_subparsers``; a command module that calls ``sub.add_parser`` gets it without asking.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["Formatter", "Parser", "positive_int", "nonnegative_int", "positive_float", "add_config",
           "add_model_file", "add_output", "deprecated_alias", "warn"]


def warn(message: str) -> None:
    """One line on stderr, in the style of the CLI's errors (not Python's warning format)."""
    print(f"quantkan: warning: {message}", file=sys.stderr)


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Help that shows each option's default (when it has a meaningful one) and keeps line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS, [])
        if shown and "%(default)" not in help_text and action.option_strings:
            help_text += " (default: %(default)s)"
        return help_text


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that uses :class:`Formatter` unless told otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)


def _integer(text: str, minimum: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (a count of samples, a baud rate, ...)."""
    return _integer(text, 1, "a positive integer")


def nonnegative_int(text: str) -> int:
    """An argparse type: an integer >= 0, where 0 means "none" (checks, checkpoints)."""
    return _integer(text, 0, "an integer >= 0 (0: none)")


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (a clock period or frequency)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_config(p: argparse.ArgumentParser, what: str = "model, learning settings and task",
               required: bool = True) -> None:
    """The positional config file every command reads."""
    p.add_argument("config", nargs=None if required else "?",
                   help=f"a config file (TOML, see docs/reference.md): {what}")


def add_output(p: argparse.ArgumentParser, what: str, default: str | None = None,
               required: bool = False) -> None:
    """``-o/--output``: what the command writes."""
    p.add_argument("-o", "--output", default=default, required=required, help=what)


def add_model_file(p: argparse.ArgumentParser, what: str = "start from") -> None:
    """``--model FILE`` and the flag that lets a file of another architecture replace the config's model."""
    p.add_argument("--model", metavar="FILE",
                   help=f"a saved model (.qkan) to {what}; it must match the config's model "
                        "(layers, kind, grid, order, types)")
    p.add_argument("--model-replaces-config", action="store_true",
                   help="use --model even where it differs from the config's model")


class _DeprecatedAlias(argparse.Action):
    """Store into the new option's ``dest`` and warn that the old spelling is going away."""

    def __init__(self, option_strings: list[str], dest: str, new: str = "", convert: Callable | None = None,
                 **kwargs: Any) -> None:
        self.new, self.convert = new, convert
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        warn(f"{option_string} is deprecated: use {self.new}")
        setattr(namespace, self.dest, self.convert(values) if self.convert else values)


def deprecated_alias(p: argparse.ArgumentParser, old: str, new: str, dest: str, **kwargs: Any) -> None:
    """Keep ``old`` working as an alias of ``new`` (same ``dest``), with a warning when used."""
    p.add_argument(old, dest=dest, action=_DeprecatedAlias, new=new, default=argparse.SUPPRESS,
                   help=f"deprecated spelling of {new}", **kwargs)
