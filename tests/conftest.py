"""Test-session setup: hermetic cache, Triton on CPU.

Triton's interpreter must be chosen before triton is first imported, so it is chosen here,
before any test module runs: without a CUDA device the Triton tests use the interpreter.
"""

import os

import pytest

from kancc.backends import cuda_available, triton_installed, use_triton_interpreter

HAVE_CUDA = cuda_available()
if triton_installed() and not HAVE_CUDA:
    use_triton_interpreter()


@pytest.fixture(autouse=True, scope="session")
def _kancc_cache(tmp_path_factory):
    """Generated modules go to a fresh directory, not the user's cache."""
    path = tmp_path_factory.mktemp("kancc-cache")
    old = os.environ.get("KANCC_CACHE_DIR")
    os.environ["KANCC_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("KANCC_CACHE_DIR", None)
    else:
        os.environ["KANCC_CACHE_DIR"] = old


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not HAVE_CUDA:
            item.add_marker(skip_gpu)
