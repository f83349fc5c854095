"""Amazon's DynamoDB Local for the test session: found, started on a free 127.0.0.1 port, and stopped at the end.

``make test-ddblocal`` installs it (the npm package ``amplify-dynamodb-simulator`` ships ``emulator/DynamoDBLocal.jar``)
and sets ``HAOPING_DDB_LOCAL`` to that emulator directory. Only DynamoDB goes there, through botocore's standard
``AWS_ENDPOINT_URL_DYNAMODB``; every other service stays on moto in-process (moto's mock does not intercept a custom
endpoint, so the two live side by side). Without Java or the jar the session is skipped, saying which is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ENV = "HAOPING_DDB_LOCAL"
JAR = "DynamoDBLocal.jar"
START_TIMEOUT = 60.0


class Unavailable(RuntimeError):
    """DynamoDB Local cannot run here; the message says what is missing."""


@dataclass
class DynamoDBLocal:
    """A running DynamoDB Local: its endpoint and process."""

    endpoint: str
    process: subprocess.Popen

    def stop(self) -> None:
        """Stop the server (it keeps nothing: ``-inMemory``)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def requested() -> Path | None:
    """The emulator directory when the session should use DynamoDB Local, else None."""
    value = os.environ.get(ENV, "").strip()
    return Path(value) if value else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(emulator: Path) -> DynamoDBLocal:
    """Start DynamoDB Local from ``emulator`` (the directory holding the jar); raises ``Unavailable``."""
    java = shutil.which("java")
    if java is None:
        raise Unavailable("DynamoDB Local needs Java (apt-get install default-jre-headless); none on PATH")
    if not (emulator / JAR).is_file():
        raise Unavailable(f"DynamoDB Local is not installed: no {JAR} in {emulator} (run make test-ddblocal)")
    port = _free_port()
    # -sharedDb: one database whatever the credentials (moto's mock hands out its own); -inMemory: nothing on disk.
    command = [
        java,
        "-Djava.library.path=./DynamoDBLocal_lib",
        "-jar",
        JAR,
        "-inMemory",
        "-sharedDb",
        "-port",
        str(port),
    ]
    process = subprocess.Popen(command, cwd=emulator, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Unavailable(f"DynamoDB Local exited at start: {process.stderr.read().decode(errors='replace')[:500]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return DynamoDBLocal(f"http://127.0.0.1:{port}", process)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise Unavailable(f"DynamoDB Local did not listen on port {port} within {START_TIMEOUT:.0f} s")


def drop_tables(endpoint: str, prefix: str, region: str) -> None:
    """Delete a test's tables, so a long session does not fill the server's memory."""
    import boto3

    dynamodb = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint)
    for page in dynamodb.get_paginator("list_tables").paginate():
        for name in page["TableNames"]:
            if name.startswith(prefix + "-"):
                dynamodb.delete_table(TableName=name)
