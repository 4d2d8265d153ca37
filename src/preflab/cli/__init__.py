"""The ``preflab`` command: one verb a module, each thin over the library.

``preflab <verb> [options]``; ``preflab <verb> --help`` describes a verb.
"""

from __future__ import annotations

import argparse
import sys

from . import arena, demo, discover, game, judge, objectives, online, serve, train
from . import compare

# one module a verb, in the order `preflab --help` lists them
VERBS = {"demo": demo, "train": train, "objectives": objectives, "game": game, "online": online, "arena": arena,
         "judge": judge, "serve": serve, "discover": discover,
         "compare": compare}


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
