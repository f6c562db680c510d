"""A direct event-file reader for tests (imports neither Keras nor torch)."""

import glob
import os

from tensorboard.backend.event_processing import event_file_loader

from tb_lr_plugin import metadata, run_data


def read_run(logdir):
    """Reads the records of one run directory into a `RunData`.

    Straight from the event files (no TensorBoard sampling), so tests of the
    writer see exactly what was written.
    """
    records, metas = [], {}
    for path in sorted(glob.glob(os.path.join(logdir, "*tfevents*"))):
        for event in event_file_loader.EventFileLoader(path).Load():
            for value in event.summary.value:
                if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
                    if value.metadata.plugin_data.plugin_name != metadata.PLUGIN_NAME:
                        continue
                    metas[(path, value.tag)] = metadata.parse_plugin_metadata(
                        value.metadata.plugin_data.content
                    )
                meta = metas.get((path, value.tag))
                if meta:
                    records.append((value.tag, meta, event.wall_time, event.step, value.tensor))
    return run_data.assemble(records)
