"""tb-lr-plugin: a TensorBoard tab for learning rates and plateau decisions."""

import os
import shutil
import subprocess

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLE = os.path.join(HERE, "tb_lr_plugin", "static", "index.js")


class BuildWithFrontend(build_py):
    """Builds the frontend first when the bundle is missing and npm is here."""

    def run(self):
        if not os.path.exists(BUNDLE) and shutil.which("npm"):
            frontend = os.path.join(HERE, "frontend")
            if os.path.exists(os.path.join(frontend, "package.json")):
                subprocess.check_call(["npm", "ci", "--no-audit", "--no-fund"], cwd=frontend)
                subprocess.check_call(["npm", "run", "build"], cwd=frontend)
        super().run()


setup(
    name="tb-lr-plugin",
    version="0.1.0",
    description="TensorBoard tab for learning rates, schedules and ReduceLROnPlateau decisions",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    # The plugin's subpackages (audit, sources, torch, ...) and the callbacks, which live in
    # callbacks/ in the checkout and install as tb_lr_plugin.callbacks.
    packages=find_packages(include=["tb_lr_plugin", "tb_lr_plugin.*"])
    + ["tb_lr_plugin.callbacks"]
    + ["tb_lr_plugin.callbacks." + p for p in find_packages("callbacks")],
    package_dir={"tb_lr_plugin.callbacks": "callbacks"},
    package_data={"tb_lr_plugin": ["static/*", "static/**/*"]},
    # fsspec: log_dir and tb-lr-audit accept URLs (gs://, s3://, ...).
    install_requires=["tensorboard>=2.16", "werkzeug", "numpy", "fsspec"],
    extras_require={
        # The callbacks need Keras 3.5 or newer (the oldest release tested) and one
        # backend; none needs TensorFlow.
        "tensorflow": ["tensorflow>=2.16", "keras>=3.5"],
        "jax": ["keras>=3.5", "jax[cpu]"],
        "keras": ["keras>=3.5"],
        # tb_lr_plugin.torch (plain loops); Keras on the torch backend adds keras>=3.5.
        "torch": ["torch"],
        # tb_lr_plugin.torch's integrations.
        "lightning": ["torch", "lightning>=2.6"],
        "huggingface": ["torch", "transformers>=5.24", "accelerate>=1.1"],
        # Remote logdirs: the fsspec filesystem of each store.
        "gcs": ["gcsfs"],
        "s3": ["s3fs"],
        "test": ["pytest>=8", "ruff", "moto[server]", "s3fs", "boto3"],
        "examples": ["tensorflow>=2.16", "scikit-learn"],
    },
    entry_points={
        "tensorboard_plugins": ["learning_rate = tb_lr_plugin.plugin:LearningRateLoader"],
        "console_scripts": ["tb-lr-audit = tb_lr_plugin.cli:main"],
    },
    cmdclass={"build_py": BuildWithFrontend},
)
