"""The ``preflab`` command: one verb a module, each thin over the library.

``preflab <verb> [options]``; ``preflab <verb> --help`` describes a verb.
"""

from __future__ import annotations

import argparse
import os
import sys

from preflab.errors import PreflabError

from . import arena, compare, demo, discover, game, judge, objectives, online, serve, train

# one module a verb, in the order `preflab --help` lists them
VERBS = {"demo": demo, "train": train, "objectives": objectives, "game": game, "online": online, "arena": arena,
         "judge": judge, "serve": serve, "discover": discover, "compare": compare}


# Library chatter a run does not need: a "Loading weights" bar per model load (dozens in a demo), the
# datasets "Generating split" bars, transformers' warnings. Set before transformers or datasets is imported,
# and inherited by worker processes; ``--verbose`` (anywhere on the line) leaves them on.
QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
             "TRANSFORMERS_VERBOSITY": "error"}


def quiet_libraries() -> None:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv
    argv = [a for a in argv if a != "--verbose"]
    if not verbose:
        quiet_libraries()
    parser = argparse.ArgumentParser(
        prog="preflab",
        description="Preference optimization of language models: train, play, judge, discover. "
                    "--verbose (before or after the verb) shows the libraries' progress bars and warnings.",
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
    except (PreflabError, ValueError) as err:   # a message that says what to fix (plain ValueErrors too, for now)
        print(f"preflab {args.verb}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
