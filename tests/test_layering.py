"""Imports run one way: format <- read <- analysis <- serve/cli.

The callbacks (and any writer) import from the format layer only. See
docs/architecture.md for what each layer owns.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
FORMAT, READ, ANALYSIS, SERVE = range(4)
LAYERS = {
    FORMAT: "metadata record event_writer summary formatting lr_finder storage remote_writer",
    READ: "reader listing tolerant_read loader event_file event_scan sanitize run_data run_model "
    "sources keras_logs run_select progress fork_map run_version quick_ack",
    ANALYSIS: "audit downsample export",
    SERVE: "plugin answers view responses cli html_report markdown text_table sized_cache",
}
LAYER = {name: layer for layer, names in LAYERS.items() for name in names.split()}
WRITERS = ("callbacks", "torch")  # tb_lr_plugin.callbacks, tb_lr_plugin.torch


def imported(path):
    """The `tb_lr_plugin` modules `path` imports, anywhere in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{a.name}" for a in node.names)
    parts = (n.split(".") for n in names if n.startswith("tb_lr_plugin."))
    return {p[1] for p in parts if len(p) > 1 and p[1] not in ("__version__",)}


def test_imports_run_one_way():
    backwards = []
    sources = {
        p: p.relative_to(ROOT / "tb_lr_plugin").parts[0] for p in ROOT.glob("tb_lr_plugin/**/*.py")
    }
    sources.update({p: "callbacks" for p in ROOT.glob("callbacks/*.py")})
    for path, module in sorted(sources.items()):
        module = module.removesuffix(".py")
        if module in ("__init__", "static"):
            continue
        own = FORMAT if module in WRITERS else LAYER[module]
        for name in imported(path) - {module, *WRITERS}:
            assert name in LAYER, f"{path.relative_to(ROOT)}: {name} has no layer in LAYERS"
            if LAYER[name] > own:
                backwards.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not backwards, backwards
