"""The botocore data loader of the container's one session, told which services the app uses.

Making the first client of a session asks botocore's loader which services exist: the stock loader answers by
listing every service directory of the SDK (about 400, some 2,600 file checks) once per kind of model it loads,
20–40 ms of every function's cold start. This one looks only in the directories of ``SERVICES`` and otherwise
loads the same models from the same places (``AWS_DATA_PATH`` included). A client for a service not listed
fails with botocore's own ``UnknownServiceError``, so a new service is one line here, found by the first test
that makes its client.
"""

from __future__ import annotations

import os
from functools import cache

from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader

# The services ``Runtime.aws`` makes clients for; PynamoDB's DynamoDB client shares the session.
SERVICES = ("dynamodb", "kms", "secretsmanager", "sns", "sqs")


class AppServicesLoader(Loader):
    """botocore's ``Loader``, whose list of available services holds only the app's."""

    def list_available_services(self, type_name: str) -> list[str]:
        """The app's services that have a ``type_name`` model (botocore's contract: a sorted list)."""
        found = []
        for name in SERVICES:
            try:
                self.list_api_versions(name, type_name)
            except DataNotFoundError:
                continue
            found.append(name)
        return sorted(found)


class _PathsOnce(list):
    """A loader's search paths, each kept once: boto3 adds its own data path for every boto3 session it makes
    (one per client here)."""

    def append(self, path) -> None:
        if path not in self:
            super().append(path)


@cache
def _loader(paths: tuple[str, ...]) -> AppServicesLoader:
    # One per process and data path: the models it caches are the SDK's files, the same for every session, so a
    # container rebuilt in the same process (tests, the local stack) does not parse them again.
    return AppServicesLoader(extra_search_paths=_PathsOnce(paths))


def install(session) -> None:
    """Give botocore ``session`` the app's loader, with the search paths its own would have had."""
    data_path = session.get_config_variable("data_path")
    paths = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else []
    session.register_component("data_loader", _loader(tuple(paths)))
