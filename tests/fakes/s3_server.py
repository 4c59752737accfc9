"""An S3-compatible server for tests: moto's server mode in its own process, on a free port of
5590-5599, with a bucket made through the real S3 API."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PORTS = range(5590, 5600)
# moto accepts any key unless it checks authentication; the values only need to be consistent.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "monitoring-test-key",
    "AWS_SECRET_ACCESS_KEY": "monitoring-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    """A running server: its endpoint and the environment that reaches it."""

    endpoint: str
    pid: int

    def environ(self, **extra: str) -> dict[str, str]:
        """The variables s3fs and boto read: credentials, region and this endpoint."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint, **extra}

    def create_bucket(self, name: str) -> None:
        import boto3

        env = self.environ()
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        client.create_bucket(Bucket=name)


def free_port(ports: range = PORTS) -> int:
    """A port of ``ports`` nothing listens on."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def moto_server_command() -> list[str]:
    here = Path(sys.executable).parent / "moto_server"
    found = str(here) if here.exists() else shutil.which("moto_server")
    if found is None:
        raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
    return [found]


@contextmanager
def s3_server(*, authenticate: bool = False, log: Path | None = None) -> Iterator[S3Server]:
    """Start moto's S3 server; stop it (by its pid) on exit.

    Args:
        authenticate: Check requests' credentials (moto then knows no key, so every request
            is refused as real S3 refuses an unknown key).
        log: Where the server's output goes (discarded by default).
    """
    port = free_port()
    env: Mapping[str, str] = {
        **os.environ,
        **({"INITIAL_NO_AUTH_ACTION_COUNT": "0"} if authenticate else {}),
    }
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        [*moto_server_command(), "-H", "127.0.0.1", "-p", str(port)],
        env=dict(env),
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on port {port}") from None
                time.sleep(0.2)
        yield S3Server(endpoint, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log is not None and hasattr(out, "close"):
            out.close()
