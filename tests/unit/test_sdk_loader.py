"""The container's botocore loader: it knows only the app's services, loads their models exactly as botocore's own
loader does, and every service the app makes a client for is one it knows."""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader

from chalicelib import sdk_loader

ROOT = Path(__file__).resolve().parents[2]


def test_it_lists_only_the_apps_services_and_loads_the_same_models_as_botocore():
    ours, stock = sdk_loader.AppServicesLoader(), Loader()
    assert ours.list_available_services("service-2") == sorted(sdk_loader.SERVICES)
    assert set(sdk_loader.SERVICES) <= set(stock.list_available_services("service-2"))
    for service in sdk_loader.SERVICES:
        for kind in ("service-2", "endpoint-rule-set-1"):
            assert ours.load_service_model(service, kind) == stock.load_service_model(service, kind)


def test_a_session_with_it_makes_the_apps_clients_and_refuses_any_other(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    session = botocore.session.get_session()
    sdk_loader.install(session)
    for service in sdk_loader.SERVICES:
        client = session.create_client(service, region_name="ap-southeast-1")
        assert client.meta.service_model.service_name == service
    with pytest.raises(UnknownServiceError):
        session.create_client("ec2", region_name="ap-southeast-1")


def test_it_keeps_the_data_path_botocores_loader_would_search(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    session = botocore.session.get_session()
    sdk_loader.install(session)
    assert str(tmp_path) in session.get_component("data_loader").search_paths


def test_every_service_the_app_makes_a_client_for_is_listed():
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "chalicelib").rglob("*.py"))
    used = set(re.findall(r"\.aws\(\"([a-z0-9-]+)\"\)", source))
    assert used and used <= set(sdk_loader.SERVICES)
