"""Which Keras backend the callback tests run on, and what that implies.

`make test` runs the callback tests once per backend (`KERAS_BACKEND`
tensorflow, jax, torch). Under jax and torch, TensorFlow is made
unimportable, as on a machine where it is not installed (it is in the
development venv), so anything of ours that reached for it would fail.
Test ids carry the Keras release and the backend:
`test_x[keras-3.5.0-jax]`. (`make test` runs them again on the oldest Keras
3 release supported, in a virtualenv layered over the development one.)
"""

import importlib.abc
import importlib.metadata
import importlib.util
import os
import sys

import pytest

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
# Read from the installed metadata: importing Keras here would import a
# backend before the tests choose one.
KERAS_VERSION = importlib.metadata.version("keras")
TEST_ID = f"keras-{KERAS_VERSION}-{BACKEND}"


class _NoTensorFlow(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `tensorflow` first and fails to load it. (Returning no spec
    would let the next finder find the real one.)"""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            return importlib.util.spec_from_loader(name, self)  # origin None
        return None

    def create_module(self, spec):
        raise ModuleNotFoundError(
            f"No module named {spec.name!r} (blocked under KERAS_BACKEND={BACKEND})",
            name=spec.name,
        )

    def exec_module(self, module):
        raise AssertionError("unreachable")


if BACKEND != "tensorflow" and not any(isinstance(f, _NoTensorFlow) for f in sys.meta_path):
    sys.meta_path.insert(0, _NoTensorFlow())

# Put in a callback test module: every test's id then names Keras and the backend.
on_every_backend = pytest.mark.parametrize(
    "keras_backend", [BACKEND], indirect=True, ids=[TEST_ID]
)
tensorflow_only = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="uses TensorFlow itself (tf.distribute, tf.math)"
)


@pytest.fixture(autouse=True)
def keras_backend(request):
    """The backend under test (parametrised in the callback test modules)."""
    return getattr(request, "param", BACKEND)


def not_on(backend, reason):
    """Skips a test on a backend where Keras itself lacks the feature."""
    return pytest.mark.skipif(BACKEND == backend, reason=reason)


def _tf_keras_version():
    try:
        return importlib.metadata.version("tf-keras")
    except importlib.metadata.PackageNotFoundError:
        return None


# tf_keras (Keras 2): always TensorFlow. Its tests' ids name the release:
# `test_x[tf_keras-2.21.0]`.
TF_KERAS_VERSION = _tf_keras_version()
TF_KERAS_ID = f"tf_keras-{TF_KERAS_VERSION}"
on_tf_keras = [
    pytest.mark.skipif(BACKEND != "tensorflow", reason="tf_keras runs on TensorFlow only"),
    pytest.mark.skipif(TF_KERAS_VERSION is None, reason="tf_keras is not installed"),
    pytest.mark.parametrize("keras_backend", ["tensorflow"], indirect=True, ids=[TF_KERAS_ID]),
]

# The Kerases a test can run on here: Keras 3, and tf_keras under TensorFlow.
KERAS_FLAVOURS = {"keras": TEST_ID}
if BACKEND == "tensorflow" and TF_KERAS_VERSION:
    KERAS_FLAVOURS["tf_keras"] = TF_KERAS_ID


@pytest.fixture(scope="module", params=sorted(KERAS_FLAVOURS), ids=lambda f: KERAS_FLAVOURS[f])
def keras_flavour(request):
    """`"keras"` or `"tf_keras"`, for a module-scoped fixture run on each."""
    return request.param
