"""Sub-commands of the ``molgen`` CLI, one module each (discovered by :mod:`molgen.cli`)."""
