"""The template's resources provisioned once on moto in-process, then copied back for each test.

Provisioning the stack (tables, queues, key, topic, secrets: some seventy AWS calls through botocore and moto) is
most of an integration test's setup. Its result does not depend on the test, so it is made once, kept as a deep copy
of moto's per-region backends, and each test starts from a fresh copy of that copy: every test still sees exactly
the state a new stack has, and nothing a test writes reaches the next one.
"""

from __future__ import annotations

import contextlib
import copy
import copyreg
import threading
from dataclasses import dataclass

from sandbox.provision import LocalAws

# A Condition keeps its lock's bound methods, which a copy would share with the original: it is made anew too.
_LOCK_TYPES = (
    (type(threading.Lock()), threading.Lock),
    (type(threading.RLock()), threading.RLock),
    (threading.Condition, threading.Condition),
)


@contextlib.contextmanager
def _locks_copied_as_new():
    """Some moto models hold a lock (an SQS queue its messages' Condition); a copied model gets a new, released one
    (locks cannot be copied as such)."""
    saved = {kind: copyreg.dispatch_table.get(kind) for kind, _ in _LOCK_TYPES}
    for kind, make in _LOCK_TYPES:
        copyreg.pickle(kind, lambda _lock, make=make: (make, ()))
    try:
        yield
    finally:
        for kind, previous in saved.items():
            if previous is None:
                copyreg.dispatch_table.pop(kind, None)
            else:
                copyreg.dispatch_table[kind] = previous


def _copy(value):
    with _locks_copied_as_new():
        return copy.deepcopy(value)


@dataclass(frozen=True)
class ProvisionedMoto:
    """moto's state right after provisioning, and what provisioning returned."""

    base_env: dict[str, str]
    local: LocalAws
    backends: tuple  # (BackendDict, account id, region, backend copy) for every backend provisioning touched

    def restore(self) -> LocalAws:
        """Put a fresh copy of the provisioned state into moto (whose mock must be started) and return what
        provisioning returned."""
        for backends, account, region, saved in self.backends:
            dict.__setitem__(backends[account], region, _copy(saved))
        return self.local


def provisioned(base_env: dict[str, str], *, app_key: str, secret_values: dict[str, str]) -> ProvisionedMoto:
    """Provision the template for ``base_env``'s table prefix on a fresh moto mock and keep a copy of the result
    (the environment must already hold ``base_env``)."""
    from moto import mock_aws
    from moto.core.base_backend import BackendDict

    from sandbox import moto_atomic
    from sandbox.provision import provision_local

    moto_atomic.install()
    stage = base_env["HAOPING_TABLE_PREFIX"].removeprefix("haoping-")
    with mock_aws():
        local = provision_local(
            stage, endpoint=None, app_key=app_key, app_secret=secret_values["AppSecret"], secret_values=secret_values
        )
        saved = tuple(
            (backends, account, region, _copy(backend))
            for backends in BackendDict._instances
            for account, regional in dict.items(backends)
            for region, backend in dict.items(regional)
        )
    return ProvisionedMoto(base_env=dict(base_env), local=local, backends=saved)
