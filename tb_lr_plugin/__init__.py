"""tb-lr-plugin: the Learning Rate tab for TensorBoard.

Importing this package imports neither TensorFlow nor Keras; the Keras
callbacks live in `tb_lr_plugin.callbacks`. `tb_lr_plugin.report(logdir)`
shows the tab's view in a notebook, with no server (see `html_report.py`); it is
imported on first use, so `import tb_lr_plugin` stays light.
"""

__version__ = "0.1.0"


def report(logdir, run=None, height=900):
    """The Learning Rate tab's view of `logdir` in a notebook: `html_report.report`."""
    from tb_lr_plugin import html_report

    return html_report.report(logdir, run=run, height=height)
