"""`python -m player` runs the `practice` command."""

from player.cli import main

if __name__ == "__main__":
    main()
