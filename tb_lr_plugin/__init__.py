"""tb-lr-plugin: the Learning Rate tab for TensorBoard.

Importing this package imports neither TensorFlow nor Keras; the Keras
callbacks live in `tb_lr_plugin.callbacks`. `tb_lr_plugin.report(logdir)`
shows the tab's view in a notebook, with no server (see `html_report.py`); it is
imported on first use, so `import tb_lr_plugin` stays light.
"""

import os
import sys

__version__ = "0.1.0"


def report(logdir, run=None, height=900):
    """The Learning Rate tab's view of `logdir` in a notebook: `html_report.report`."""
    from tb_lr_plugin import html_report

    return html_report.report(logdir, run=run, height=height)


class _CheckoutCallbacks:
    """Finds `tb_lr_plugin.callbacks` in a source checkout.

    The callbacks' sources sit in `callbacks/` beside this folder, and an
    installed copy puts them in `tb_lr_plugin/callbacks/`. A script run from
    the checkout's root imports this folder, which shadows the installed
    package and has no `callbacks` in it; this finder maps that one name
    to the checkout's `callbacks/`, so both halves come from one checkout.
    (A `sys.meta_path` finder needs only `find_spec`: not deriving from
    `importlib.abc.MetaPathFinder` saves `tb-lr-audit` importing it, 10 ms.)
    """

    def __init__(self, folder):
        self.folder = folder

    def find_spec(self, name, path=None, target=None):
        if name != __name__ + ".callbacks":
            return None
        import importlib.util

        return importlib.util.spec_from_file_location(
            name,
            os.path.join(self.folder, "__init__.py"),
            submodule_search_locations=[self.folder],
        )


def _map_checkout_callbacks():
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.isdir(os.path.join(here, "callbacks")):
        return  # an installed copy: the callbacks are inside
    folder = os.path.join(os.path.dirname(here), "callbacks")
    if not os.path.isfile(os.path.join(folder, "__init__.py")):
        return
    if not any(isinstance(f, _CheckoutCallbacks) for f in sys.meta_path):
        sys.meta_path.insert(0, _CheckoutCallbacks(folder))


_map_checkout_callbacks()
