"""The errors a user of alta can meet; every one is an `AltaError`.

Messages name the variable, head, rule or pass at fault and say what to change.
"""

from __future__ import annotations


class AltaError(Exception):
    """Base of every error alta raises on purpose."""


class ProgramError(AltaError):
    """A symbolic program is malformed (unknown names, bad ranges, bad init values)."""


class VerifyError(AltaError):
    """An IR failed its verifier; the message quotes the offending IR."""


class InterpreterError(AltaError):
    """The interpreter cannot run a program on the given inputs."""


class InputError(InterpreterError):
    """An input sequence does not fit the program (bad token, too long)."""


class IllTypedWriteError(InterpreterError):
    """A rule or MLP-function path wrote a value outside its variable's range (undefined
    behaviour: the compiler drops such writes)."""


class UndefinedReadError(InterpreterError):
    """An MLP function read a variable whose value is undefined (None)."""


class RuleConflictError(InterpreterError):
    """Two rules fired at one position and wrote the same variable."""


class UndefinedBehaviourError(InterpreterError):
    """Strict mode found behaviour on which compiled models may differ from the interpreter."""


class CompileWarning(UserWarning):
    """The compiler dropped or tolerated undefined behaviour; `strict=True` makes it an error."""


class CompileError(AltaError):
    """A program cannot be compiled (e.g. a value cannot be encoded exactly)."""


class PipelineError(AltaError):
    """A pass pipeline string is malformed or its IR levels do not chain."""


class PassError(AltaError):
    """A pass failed; the message names the pass and the passes run before it."""


class BackendError(AltaError):
    """A backend is unknown, not installed, or failed to build or run a model."""


class TraceError(AltaError):
    """Traces cannot be made, written or read as asked (the message says which and why)."""


class UsageError(AltaError):
    """A command line names something that does not exist or cannot be used."""


class LearnError(AltaError):
    """Training, plugging in or loading a learned model cannot be done as asked."""


class CheckpointError(LearnError):
    """A checkpoint cannot be written or read (missing, not ours, or too new)."""


class SavedModelError(AltaError):
    """A saved model cannot be written or read (missing, corrupted, or too new)."""
