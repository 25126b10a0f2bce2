"""`python -m player` and the `practice` console script start here."""

import sys

from player import interrupt
from player.errors import EXIT_INTERRUPTED


def run() -> None:
    """Run the command; a Ctrl-C while it is still loading ends it as a later one would."""
    interrupt.install()  # before the imports: one of their weakref callbacks could drop it
    try:
        from player.cli import main  # a fifth of a second of imports

        interrupt.raise_if_requested()
    except KeyboardInterrupt:
        sys.stderr.write("\npractice: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    main()


if __name__ == "__main__":
    run()
