"""Domain errors: what went wrong, in the trade journal's own words.

Adapters translate driver errors into these; the HTTP layer maps them to status codes.
"""


class TradeAppError(Exception):
    """Base of every error the application raises on purpose."""

    message = "error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message


class NotFoundError(TradeAppError):
    message = "not found"


class TradeNotFoundError(NotFoundError):
    message = "trade not found"


class InvalidTradeError(TradeAppError):
    """A trade breaks a rule; `errors` maps each offending field to its messages."""

    message = "invalid trade"

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class ConflictError(TradeAppError):
    """A conditional write lost: the item changed (or appeared) since it was read."""

    message = "conflict"


class PreconditionFailedError(ConflictError):
    message = "the trade has changed since it was read (If-Match is stale)"


class PreconditionRequiredError(TradeAppError):
    message = "If-Match header is required"


class IdempotencyMismatchError(TradeAppError):
    message = "Idempotency-Key was already used with a different request body"


class InvalidCursorError(TradeAppError):
    message = "cursor is invalid, expired or belongs to another query"


class AuthError(TradeAppError):
    message = "invalid or missing access token"


class StoreUnavailableError(TradeAppError):
    """The store throttled or timed out after the client's own retries."""

    message = "the data store is busy; retry shortly"


class ImageNotFoundError(NotFoundError):
    message = "image not found"
