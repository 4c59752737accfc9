"""The domain's exceptions: one base class, one subclass per kind of fault; and how a
library's fault is told in one line."""

import re


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


_DRIVER_CLASS = re.compile(r"\((?:[A-Za-z_][\w]*\.)+[A-Za-z_]\w*\) ")
_OS_ERROR = re.compile(r"^\[Errno -?\d+\] (?P<reason>.+?)(?:: '(?P<path>[^']*)'(?: -> '[^']*')?)?$")
_SQL_TABLE = re.compile(
    r"\[SQL: .*?\b(?:FROM|INTO|UPDATE|TABLE(?: IF (?:NOT )?EXISTS)?)\s+\"?([A-Za-z_][\w.]*)",
    re.IGNORECASE | re.DOTALL,
)
_CATALOGS = ("pg_", "information_schema", "sqlite_")  # the database's own tables
_URL_PASSWORD = re.compile(r"(\b[a-z][\w+.-]*://[^\s:/@]+):[^\s@]+@", re.IGNORECASE)
MAX_FAULT_CHARS = 300


def describe_fault(fault: BaseException | str) -> str:
    """One line saying what failed, on which object, and why, for a fault a library raised:
    a file's path and the system's reason, a database's reason and table without the SQL or
    its parameters (they may hold data), URLs without their passwords.

    Args:
        fault: The exception, or its text as a run's event log keeps it.
    """
    if isinstance(fault, OSError) and fault.strerror:
        text = f"{fault.filename}: {fault.strerror}" if fault.filename else fault.strerror
    else:
        text = str(fault).strip()
        if isinstance(fault, BaseException) and not isinstance(fault, MonitoringError):
            text = text or type(fault).__name__
    tables = [t for t in _SQL_TABLE.findall(text) if not t.startswith(_CATALOGS)]
    line = next((part.strip() for part in text.splitlines() if part.strip()), "no reason given")
    line = _DRIVER_CLASS.sub("", line)
    os_error = _OS_ERROR.match(line)
    if os_error:
        path = os_error.group("path")
        line = f"{path}: {os_error.group('reason')}" if path else os_error.group("reason")
    if tables and tables[0] not in line:
        line = f"{line} (table {tables[0]})"
    line = _URL_PASSWORD.sub(r"\1:***@", line)
    return line if len(line) <= MAX_FAULT_CHARS else line[: MAX_FAULT_CHARS - 3] + "..."
