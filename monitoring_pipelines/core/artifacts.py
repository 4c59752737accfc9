"""Where the files the product writes live: slices, reports, fine-tuning sets and exports.

A local folder (``$MONITORING_HOME``, the embedded default) is a plain :class:`pathlib.Path` and
is written as before: a temporary file beside the target, renamed over it. Any other location is
an fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``abfs://...``) opened as a
``universal-pathlib`` path; an object store has no rename, and its single upload is what makes
a write atomic there. Credentials come only from the environment the filesystem reads
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``...), never from the URL,
so a location can be logged and put in metadata as it is.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import urlsplit

from monitoring_pipelines.core.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from upath import UPath

ArtifactPath: TypeAlias = "Path | UPath"
"""A local path, or a path in an object store."""

ARTIFACTS_VARIABLE = "MONITORING_ARTIFACTS_URL"
_EXTRA = "pip install 'monitoring-pipelines[distributed]'"


def is_url(location: str) -> bool:
    """Whether ``location`` names a filesystem by its scheme (``s3://...``), not a local path."""
    return "://" in location and not location.startswith("file://")


def artifact_path(location: str | Path) -> ArtifactPath:
    """The path of ``location``: a :class:`~pathlib.Path` for a local folder (``file://`` URLs
    too), a ``UPath`` for any other URL.

    Raises:
        ConfigError: If the URL carries credentials, has no bucket, or names a filesystem whose
            fsspec implementation is not installed.
    """
    if isinstance(location, Path):
        return location
    text = location.strip()
    if text.startswith("file://"):
        return Path(urlsplit(text).path).expanduser()
    if not is_url(text):
        return Path(text).expanduser()
    check_url(text)
    try:
        from upath import UPath

        return UPath(text.rstrip("/"))
    except (ImportError, ValueError) as exc:
        raise ConfigError(
            f"{ARTIFACTS_VARIABLE}: cannot open {text!r}: {exc}; the object-store filesystems "
            f"come with the distributed extra ({_EXTRA})"
        ) from exc


def check_url(text: str) -> str:
    """``text``, once it is known to be a bare location: a scheme and a bucket, no
    credentials or options (those come from the environment).

    Raises:
        ConfigError: If it is not.
    """
    parts = urlsplit(text)
    if "@" in parts.netloc or parts.password or parts.query:
        raise ConfigError(
            f"{ARTIFACTS_VARIABLE}: the URL {_shown(text)} carries credentials or options; give "
            "a bare location such as s3://bucket/prefix and the credentials through the "
            "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL...)"
        )
    if not parts.netloc:
        raise ConfigError(
            f"{ARTIFACTS_VARIABLE}: {text!r} names no bucket; expected e.g. s3://bucket/prefix"
        )
    return text


def is_remote(path: ArtifactPath) -> bool:
    """Whether ``path`` is in an object store rather than on the local disk."""
    return not isinstance(path, Path)


def child(location: str, *names: str) -> str:
    """``location`` joined with ``names``, kept a string (the form resources hold)."""
    if is_url(location):
        return "/".join([location.rstrip("/"), *names])
    return str(Path(location).joinpath(*names))


def sibling(location: str, name: str) -> ArtifactPath:
    """The folder ``name`` beside ``location`` (``reports`` beside ``slices``)."""
    path = artifact_path(location)
    if isinstance(path, Path):
        return path.resolve().parent / name
    return path.parent / name


def fs_path(path: UPath) -> str:
    """The path as its fsspec filesystem names it (``bucket/key`` for S3)."""
    return str(path.path)


def shown(path: ArtifactPath) -> str:
    """The path as messages and metadata show it: a local path, or the URL."""
    return str(path)


def write_bytes(path: ArtifactPath, data: bytes) -> None:
    """Write ``data`` to an object-store ``path`` in one upload (readers see the old object or
    the new one). Local files keep their own atomic writers, which call this only for URLs."""
    with storage_errors(path, "write"):
        path.write_bytes(data)


def upload(local: Path, path: ArtifactPath) -> None:
    """Copy the finished local file ``local`` to ``path`` (one upload to an object store, a
    rename on the local disk)."""
    if isinstance(path, Path):
        os.replace(local, path)
        return
    with storage_errors(path, "write"):
        path.fs.put_file(str(local), fs_path(path))


def temporary_file(path: ArtifactPath, suffix: str = ".tmp") -> Path:
    """A temporary file to write ``path``'s content into before it is moved in place: beside
    a local target (so the rename stays on one filesystem), in the system's temporary folder
    for a remote one. The file exists, empty; the caller removes it."""
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = str(path.parent)
    else:
        folder = None
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    return Path(name)


@contextmanager
def storage_errors(path: ArtifactPath, action: str) -> Iterator[None]:
    """Turn an object store's faults on ``path`` into a :class:`StoreError` that says which
    location failed and why: a missing bucket, rejected credentials, an unreachable endpoint."""
    if isinstance(path, Path):
        yield
        return
    try:
        yield
    except FileNotFoundError as exc:
        raise StoreError(
            f"cannot {action} {shown(path)}: {_reason(exc, 'not found')} (does the bucket "
            f"'{_bucket(path)}' exist? {ARTIFACTS_VARIABLE} names it)"
        ) from exc
    except PermissionError as exc:
        raise StoreError(
            f"cannot {action} {shown(path)}: access denied ({_reason(exc, 'permission')}); "
            "check the credentials in the environment (AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY or the instance's role) and the bucket's policy"
        ) from exc
    except OSError as exc:
        raise StoreError(
            f"cannot {action} {shown(path)}: {_reason(exc, type(exc).__name__)}"
        ) from exc
    except Exception as exc:
        if type(exc).__module__.split(".")[0] not in ("botocore", "aiobotocore", "s3fs", "aiohttp"):
            raise
        raise StoreError(
            f"cannot {action} {shown(path)}: {_reason(exc, type(exc).__name__)} (is the "
            "endpoint reachable? AWS_ENDPOINT_URL names a non-AWS one)"
        ) from exc


def _bucket(path: ArtifactPath) -> str:
    return urlsplit(str(path)).netloc


def _reason(exc: BaseException, default: str) -> str:
    text = (getattr(exc, "strerror", None) or str(exc) or default).strip()
    return text.splitlines()[0] if text else default


def _shown(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"
