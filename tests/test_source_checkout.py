"""A script run from a source checkout, with the package installed from it.

`pip install .` puts the callbacks in `tb_lr_plugin/callbacks/`; the
checkout keeps them in `callbacks/`, and its `tb_lr_plugin/` folder shadows
the installed package for a script run from the checkout's root. Tested in a
fresh virtualenv with a real, non-editable install (layered over this one's
packages, so nothing is downloaded).
"""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = """\
import importlib.util
import sys
import tb_lr_plugin
assert not {"tensorflow", "keras", "torch"} & set(sys.modules), sorted(sys.modules)
if sys.argv[1:] == ["import"]:
    from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau
print(tb_lr_plugin.__file__)
print(importlib.util.find_spec("tb_lr_plugin.callbacks").origin)
"""


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A copy of the checkout (pip builds in it), installed into a new venv."""
    base = tmp_path_factory.mktemp("checkout")
    src = base / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "node_modules")
    for name in ("setup.py", "pyproject.toml", "README.md", "tb_lr_plugin", "callbacks"):
        path = os.path.join(ROOT, name)
        if os.path.isdir(path):
            shutil.copytree(path, src / name, ignore=ignore)
        elif os.path.exists(path):
            shutil.copy(path, src / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    venv_site = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The packages of the venv running the tests (pip, setuptools, Keras,
    # TensorBoard) behind the new venv's own.
    layers = [p for p in sys.path if p.endswith("site-packages")]
    with open(os.path.join(venv_site, "zz_layer.pth"), "w") as f:
        f.write("\n".join(layers) + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(src)],
        check=True,
        env=dict(os.environ, PIP_NO_INDEX="1"),
    )
    return src, python, venv_site


def run(python, cwd, *args):
    """Runs a script saved in `cwd` from `cwd`; returns the two paths it prints."""
    with open(os.path.join(cwd, "train.py"), "w") as f:
        f.write(SCRIPT)
    result = subprocess.run(
        [python, "train.py", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_install_is_not_editable(checkout):
    src, python, venv_site = checkout
    assert os.path.isfile(os.path.join(venv_site, "tb_lr_plugin", "callbacks", "__init__.py"))
    assert not [n for n in os.listdir(venv_site) if n.startswith("__editable__")]


def test_a_script_in_the_checkout_root_gets_the_checkouts_callbacks(checkout):
    src, python, _ = checkout
    # The case that failed: the callbacks imported (Keras and TensorFlow too).
    package, callbacks = run(python, src, "import")
    assert package == str(src / "tb_lr_plugin" / "__init__.py")
    assert callbacks == str(src / "callbacks" / "__init__.py")


def test_a_script_elsewhere_gets_the_installed_package(checkout, tmp_path):
    src, python, venv_site = checkout
    # Where the import system finds them is enough here (no Keras import).
    package, callbacks = run(python, tmp_path)
    assert package == os.path.join(venv_site, "tb_lr_plugin", "__init__.py")
    assert callbacks == os.path.join(venv_site, "tb_lr_plugin", "callbacks", "__init__.py")


def _modules(root):
    return {
        os.path.relpath(os.path.join(d, f), root)
        for d, _, files in os.walk(root)
        for f in files
        if f.endswith(".py")
    }


def test_the_install_holds_every_module_of_the_checkout(checkout):
    src, _, venv_site = checkout
    installed = os.path.join(venv_site, "tb_lr_plugin")
    expected = _modules(src / "tb_lr_plugin") | {
        os.path.join("callbacks", m) for m in _modules(src / "callbacks")
    }
    assert expected - _modules(installed) == set()
