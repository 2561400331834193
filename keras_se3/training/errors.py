"""The error of a setup problem the user can fix."""


class SetupError(RuntimeError):
    """A problem with the command line, the environment or the data.

    Raised with a message that says what is wrong and how to fix it (a bad
    ``TF_CONFIG``, a strategy the backend cannot run, ...); the example scripts
    show it in one line, without a traceback.
    """
