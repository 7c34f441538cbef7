"""`python -m loadtests run|capacity|emulate-sagemaker ...`; each command has its own --help."""

from __future__ import annotations

import sys

USAGE = """usage: python -m loadtests COMMAND [options]

commands:
  run                 headless Locust run with HTML/CSV/PNG reports and an optional SLO gate
  capacity            highest request rate one server sustains within an SLO
  emulate-sagemaker   local stand-in for a SageMaker endpoint, forwarding to a server
"""


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    # Imports stay inside the branches: `capacity` must let Locust (gevent) patch the standard
    # library before anything else imports it.
    if command == "run":
        from loadtests.run import main as run_main

        return run_main(rest)
    if command == "capacity":
        from loadtests.capacity_runner import main as capacity_main

        return capacity_main(rest)
    if command == "emulate-sagemaker":
        from loadtests.sagemaker_emulator import main as emulator_main

        return emulator_main(rest)
    print(USAGE, file=sys.stderr if command not in ("-h", "--help") else sys.stdout)
    return 0 if command in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
