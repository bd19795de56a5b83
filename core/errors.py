"""The one exception type that means "the user asked for something we cannot do"."""


class UserError(Exception):
    """Bad input. The CLI prints its message as one line and exits 2; operators report it as an error."""
