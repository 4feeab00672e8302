"""The one exception tree. Every error knows its exit code (README.md#exit-codes) and its JSON
``error.code`` (docs/output.md#error-codes; ``CODES`` has each exit code's own).

    KmsgError                      1   finished, something failed
    ├── Failed                   any   a result that failed as a whole, with its exit code
    ├── InternalError              1   an exception kmsg did not expect
    ├── UsageError                 2   bad flags or arguments
    │   └── NotConfirmed           2   send-bulk: no terminal to ask on and no --yes
    ├── InputError                65   bad number, missing variable, too long, bad CSV row
    ├── InputFileError            66   file missing or unreadable
    ├── ConfigError               78   bad TOML, unknown key, missing secret, no route,
    │                                  a database written by a newer kmsg
    ├── StorageError              74   kmsg's own database: disk full, I/O error, read-only
    ├── TemporaryError            75   lock held, quiet hours: state saved, rerun later
    ├── Interrupted              130   Ctrl-C, state saved
    │   └── Cancelled            130   send-bulk: not confirmed at the prompt, nothing sent
    └── ProviderError                  a whole provider call failed (docs/providers.md)
        ├── AuthError             77   keys, signature, IP allow-list
        ├── InvalidRequest        65   the provider refused the content
        ├── TemplateNotFound      65
        ├── InsufficientBalance   69
        ├── RateLimited           75   429 or "try later" (retry_after seconds)
        ├── Unavailable           69   provably not reached, or 503
        └── UnknownOutcome        75   may have been accepted: reconcile, never resend

``not_accepted`` is True when the error proves the provider did not take the message, so the
next provider in a route may be tried; ``retryable`` when the same call may be repeated later.
Messages never carry secrets or full phone numbers: callers pass masked values.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The documented exit codes (README, "Exit codes"), sysexits-style where one fits."""

    OK = 0
    FAILED = 1  # finished, but at least one message failed
    USAGE = 2
    DATAERR = 65  # input data invalid
    NOINPUT = 66  # input file missing or unreadable
    UNAVAILABLE = 69  # provider unavailable, no route left
    IOERR = 74  # I/O error on kmsg's own files
    TEMPFAIL = 75  # temporary failure or unknown outcome: state saved, rerun later
    NOPERM = 77  # authentication or permission refused by the provider
    CONFIG = 78
    INTERRUPTED = 130


class KmsgError(Exception):
    """Finished, but something failed (exit 1, ``some_failed``). Every JSON error document names
    a specific ``error.code``: docs/output.md#error-codes."""

    exit_code = 1
    code = "some_failed"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, object]:
        doc: dict[str, object] = {"code": self.code, "message": self.message}
        if self.hint:
            doc["hint"] = self.hint
        return doc


class Failed(KmsgError):
    """A result that is a failure as a whole (a campaign's, a check's): its exit code, and the
    code that says which kind (by default the exit code's own: CODES)."""

    def __init__(
        self, message: str, *, exit_code: int, code: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code
        self.code = code or CODES.get(exit_code, KmsgError.code)


class InternalError(KmsgError):
    """A bug: an exception kmsg did not expect (exit 1)."""

    code = "internal"


class UsageError(KmsgError):
    exit_code = 2
    code = "usage"


class NotConfirmed(UsageError):
    """Sending needs a yes and there is nobody to ask: the command line must say --yes."""

    code = "not_confirmed"


class InputError(KmsgError):
    exit_code = 65
    code = "invalid_input"


class InputFileError(KmsgError):
    exit_code = 66
    code = "input_file"


class ConfigError(KmsgError):
    exit_code = 78
    code = "config"

    def __init__(
        self, message: str, *, hint: str | None = None, problems: list[str] | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        # every problem a validated file has, each naming its dotted key (`kmsg config validate`)
        self.problems = problems or []

    def to_dict(self) -> dict[str, object]:
        doc = super().to_dict()
        if self.problems:
            doc["problems"] = self.problems
        return doc


class StorageError(KmsgError):
    """kmsg cannot read or write its own database (store.faults maps SQLite's errors to it)."""

    exit_code = 74
    code = "storage"


class TemporaryError(KmsgError):
    exit_code = 75
    code = "temporary"


class Interrupted(KmsgError):
    exit_code = 130
    code = "interrupted"


class Cancelled(Interrupted):
    """The person at the prompt said no (or pressed Ctrl-C or Ctrl-D there): nothing was sent."""

    code = "cancelled"


class ProviderError(KmsgError):
    """A whole provider call failed. ``error_class`` is its normalized class
    (docs/providers.md#error-classes)."""

    error_class = "provider"
    not_accepted = True
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider_id: str | None = None,
        http_status: int | None = None,
        vendor_code: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.provider_id = provider_id
        self.http_status = http_status
        self.vendor_code = vendor_code

    @property
    def code(self) -> str:  # type: ignore[override]
        return self.error_class

    def to_dict(self) -> dict[str, object]:
        doc = super().to_dict()
        for key in ("provider_id", "http_status", "vendor_code"):
            value = getattr(self, key)
            if value is not None:
                doc[key] = value
        return doc


class AuthError(ProviderError):
    exit_code = 77
    error_class = "auth"


class InvalidRequest(ProviderError):
    exit_code = 65
    error_class = "invalid"


class TemplateNotFound(ProviderError):
    exit_code = 65
    error_class = "template_not_found"


class InsufficientBalance(ProviderError):
    exit_code = 69
    error_class = "insufficient_balance"


class RateLimited(ProviderError):
    exit_code = 75
    error_class = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Unavailable(ProviderError):
    exit_code = 69
    error_class = "unavailable"
    retryable = True


class UnknownOutcome(ProviderError):
    exit_code = 75
    error_class = "unknown_outcome"
    not_accepted = False


ERROR_CLASSES: dict[str, type[ProviderError]] = {
    cls.error_class: cls
    for cls in (
        AuthError,
        InvalidRequest,
        TemplateNotFound,
        InsufficientBalance,
        RateLimited,
        Unavailable,
        UnknownOutcome,
    )
}


# the error.code of each exit code, when nothing more specific is known (docs/output.md#error-codes)
CODES: dict[int, str] = {
    ExitCode.FAILED: KmsgError.code,
    ExitCode.USAGE: UsageError.code,
    ExitCode.DATAERR: InputError.code,
    ExitCode.NOINPUT: InputFileError.code,
    ExitCode.UNAVAILABLE: Unavailable.error_class,
    ExitCode.IOERR: StorageError.code,
    ExitCode.TEMPFAIL: TemporaryError.code,
    ExitCode.NOPERM: AuthError.error_class,
    ExitCode.CONFIG: ConfigError.code,
    ExitCode.INTERRUPTED: Interrupted.code,
}
