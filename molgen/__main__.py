"""``python -m molgen ...``: the ``molgen`` command without its console script (scripts, other venvs)."""

from molgen.cli import entry

if __name__ == "__main__":
    entry()
