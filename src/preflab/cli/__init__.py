"""The ``preflab`` command: one verb a module, each thin over the library.

``preflab <verb> [options]``; ``preflab <verb> --help`` describes a verb.
"""

from __future__ import annotations

import argparse
import sys

import importlib

# one module a verb, in the order `preflab --help` lists them
_VERB_NAMES = ("demo", "train", "objectives", "game", "online", "arena", "judge", "serve", "discover")
VERBS = {}
for _name in _VERB_NAMES:
    try:
        VERBS[_name] = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _err:  # a verb whose module is not written yet; any other missing import is a bug
        if _err.name != f"{__name__}.{_name}":
            raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="preflab",
        description="Preference optimization of language models: train, play, judge, discover.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="<verb>")
    for name, module in VERBS.items():
        module.add_parser(sub)
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    try:
        return VERBS[args.verb].run(args) or 0
    except BrokenPipeError:  # `preflab objectives | head`
        return 0
    except ValueError as err:  # every preflab error is a ValueError with a message that says what to fix
        print(f"preflab {args.verb}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
