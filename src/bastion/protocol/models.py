"""Loading botocore's service models, once per process."""

from __future__ import annotations

from functools import cache

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel


@cache
def _loader() -> Loader:
    return Loader()


@cache
def load_service_model(name: str) -> ServiceModel:
    """The newest botocore model of `name` (e.g. "kms", "sts")."""
    loader = _loader()
    return ServiceModel(loader.load_service_model(name, "service-2"), service_name=name)


def operation_model(service: str, operation: str) -> OperationModel:
    return load_service_model(service).operation_model(operation)


def protocol_of(model: ServiceModel) -> str:
    """The wire protocol Bastion speaks for a service: json, rest-json or query."""
    protocols = model.metadata.get("protocols") or [model.metadata["protocol"]]
    for preferred in ("json", "rest-json", "query"):
        if preferred in protocols:
            return preferred
    return protocols[0]
