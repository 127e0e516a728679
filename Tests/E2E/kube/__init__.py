"""A real etcd + kube-apiserver 1.20.2 harness for Sextant's end-to-end tests (see harness.py)."""

from .harness import (  # noqa: F401
    KUBE_VERSION,
    ApiError,
    ApiServer,
    Etcd,
    HarnessError,
    etcd_binary,
    free_port,
    kube_apiserver_binary,
    wait_for,
)
