"""The one error tree of babelq: every error we raise on purpose derives from BabelqError."""

from __future__ import annotations


class BabelqError(Exception):
    """Root of every error babelq raises on purpose."""


class ConfigurationError(BabelqError):
    """Settings or the routing table are invalid; raised at start-up."""


class InvalidInput(BabelqError):
    """A caller sent something we refuse (empty text, bad language code, bad JSON line)."""


class InvalidLanguage(InvalidInput):
    """A language code that is not a well-formed ISO 639 / BCP 47 tag."""


class UnsupportedJobVersion(InvalidInput):
    """A ChatJob on the wire has a schema version this worker does not understand."""


class PublishError(BabelqError):
    """The broker refused or failed to take a job; nothing was kept for it."""


class IdempotencyConflict(InvalidInput):
    """An idempotency key used again with a different request."""


class JobNotFound(BabelqError):
    """No job with that id exists in the store."""


class ConversationExists(BabelqError):
    """A cached answer was not stored: its conversation exists already (an answer from the cache
    is only for a conversation's first question)."""


class ConversationNotFound(BabelqError):
    """No conversation by this id that the caller may write to or read: there is none, or it is
    another channel's or another visitor's (the same answer, so an id tells a stranger nothing)."""


class ModelPreparationError(BabelqError):
    """The default model could not be downloaded, verified or converted."""


class BatchError(BabelqError):
    """A batch could not be run; every item of it gets this as its own outcome."""


class BatchResultMismatch(BatchError):
    """A batch function returned a different number of results than it was given."""


class ItemTooLarge(BatchError):
    """A single item exceeds the batch token budget on its own."""


class BatcherClosed(BatchError):
    """The batcher is shutting down and takes no more items."""


class ModelLoadError(BabelqError):
    """A model or its tokenizer could not be loaded from the local path or hub id it was given."""


class ItemExpired(BatchError):
    """An item's deadline passed before its batch could run; it was not run."""


class WorkerUnavailable(BabelqError):
    """This job cannot run here now; it goes back to the broker untried (for another worker, or
    for later)."""


class BreakerOpen(WorkerUnavailable):
    """The worker's circuit breaker is open after repeated model failures."""


class WorkerDraining(WorkerUnavailable):
    """The worker is shutting down: it finishes the batch it runs and hands the rest back."""


class EarlierTurnPending(WorkerUnavailable):
    """An earlier message of the same conversation is not answered yet: this one waits its turn."""


class ModelFailed(BabelqError):
    """The model failed on a job through no fault of the job's input; the job may be retried."""


class FailedAlone(BabelqError):
    """Generation raised for this item alone while items of its batch succeeded (poison
    isolation split the batch to find it): its own input is the likely cause."""


class PoisonSuspect(ModelFailed):
    """The model failed on a job that failed alone (FailedAlone): retried a few times only, in
    case a device was at fault after all, then dead-lettered."""


class Unauthenticated(BabelqError):
    """A request without a valid API key (missing, malformed, unknown or revoked) where one is needed."""


class RateLimited(BabelqError):
    """A key or a channel's user sent more than its limit allows; `retry_after_s` says when to try."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BadSignature(InvalidInput):
    """A webhook whose signature, secret token or timestamp does not check out."""


class NotPermitted(BabelqError):
    """A valid key asked for something outside its channel (posting as another channel)."""


class ApiError(BabelqError):
    """The babelq API answered a client's request with an error (`status`, and its `detail`)."""

    def __init__(self, status: int, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.retry_after_s = retry_after_s
