"""The one exception type for problems the user can fix (bad input, bad config, unknown names)."""


class UserError(Exception):
    """A problem with the user's input: the CLI prints its message on one line and exits non-zero."""
