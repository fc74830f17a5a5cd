"""The one exception type a command raises for a failure its user can act on."""


class CommandError(Exception):
    """A known failure of a command: `gridwatch` prints it as one line and exits with status 2."""
