"""Errors a user can cause with their input files: each names the file (and line) and the fix."""


class InputFileError(Exception):
    """A landing or reference file that cannot be used as a whole."""

    def __init__(self, path: str, problem: str, fix: str = "", line: int | None = None):
        self.path, self.problem, self.fix, self.line = path, problem, fix, line
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {problem}" + (f" — fix: {fix}" if fix else ""))
