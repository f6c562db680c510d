"""Source: the records our callbacks write (this plugin's own tensors).

Unlike the scalar adapters, this source reads `(tag, metadata, wall_time,
step, value)` records of our plugin (`metadata.PLUGIN_NAME`): it checks
them (`sanitize`) and assembles them into a `run_data.RunData`. A run
whose records hold an LR (`RunData.has_lr`) is served from them; a run
with only other records of ours (an LR range test) falls back to a
scalar source when one claims the run.
"""

from tb_lr_plugin import run_data, sanitize

NAME = "logger"


def read(records):
    """Checks and assembles one run's records.

    Args:
      records: `(tag, meta, wall_time, step, value)` tuples.

    Returns:
      `(data, dropped)`: the `RunData`, and how many items the checks
      dropped (not counted in `data.skipped`).
    """
    records, dropped = sanitize.clean_records(records)
    return run_data.assemble(records), dropped
