"""Entry point of `abs`: parse, dispatch, and turn domain errors into one clear line and exit code 2."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from cli import client, dashboard, embedded, local, plot, results, service, sweep


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="abs", description="anomaly-backbone training service")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in (local, service, embedded, client, sweep, results, plot, dashboard):
        group.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ab_core.errors import AbError

    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except AbError as error:
        print(f"abs: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("abs: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `abs jobs | head -1`: the reader left; end quietly, as `yes | head` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left for exit's flush
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
