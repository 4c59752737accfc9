"""The domain's exceptions: one base class, one subclass per kind of fault."""


class MonitoringError(Exception):
    """Base class of every error the product raises on purpose."""


class ConfigError(MonitoringError):
    """The monitor configuration is invalid; the message lists every problem found."""


class SourceError(MonitoringError):
    """A warehouse table, column or reference file named by the configuration is unusable."""


class StoreError(MonitoringError):
    """The result store could not be read or written."""


class DeliveryError(MonitoringError):
    """A notification could not be delivered."""

    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s
