"""Entry point of `abs`: parse, dispatch, and turn domain errors into one clear line and exit code 2."""

from __future__ import annotations

import argparse
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
        return args.handler(args)
    except AbError as error:
        print(f"abs: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("abs: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
