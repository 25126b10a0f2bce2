"""`python -m player` and the `practice` console script start here."""

import sys

from player import interrupt


def run() -> None:
    """Run the command; a Ctrl-C or SIGTERM while it is still loading ends it as a later
    one would."""
    interrupt.install()  # before the imports: one of their weakref callbacks could drop it
    try:
        from player.cli import main  # a fifth of a second of imports

        interrupt.raise_if_requested()
    except KeyboardInterrupt:
        sys.stderr.write(interrupt.stopped_message() + "\n")
        sys.exit(interrupt.exit_code())
    main()


if __name__ == "__main__":
    run()
