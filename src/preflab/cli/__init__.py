"""The ``preflab`` command: one verb a module, each thin over the library.

``preflab <verb> [options]``; ``preflab <verb> --help`` describes a verb.
"""

from __future__ import annotations

import argparse
import sys

from . import demo as _demo
from . import game as _game
from . import objectives as _objectives
from . import online as _online
from . import train as _train

VERBS = {"demo": _demo, "game": _game, "objectives": _objectives, "online": _online, "train": _train}


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
