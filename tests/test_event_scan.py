"""Records read by layout (`event_scan`) are the records protobuf reads.

The loader reads most of our records straight from their bytes and leaves
the rest to protobuf. Both ways must give the same records: read every
event file the tests have, and files of records in every shape the
scanner must refuse, once with the scanner and once with protobuf alone,
and compare what the run would be built from.
"""

import os
import struct
import sys

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2

from tb_lr_plugin import event_file, event_scan, loader, metadata, record

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "bench"))

import bench_audit  # noqa: E402
import test_hostile_files  # noqa: E402
from test_hostile_files import _meta, _shape, _strings, _value  # noqa: E402

DEMO = os.path.join(HERE, "data", "demo_logs")


def _read_dir(paths, scan):
    """What a run directory's files give the run model, and how many records
    the scanner took."""
    reader = loader._DirReader()
    taken = []

    def take(*args):
        got = reader.take(*args)
        taken.append(got)
        return got

    damage = None
    for path in paths:
        try:
            for event, values in event_file.events_with_values(
                path, metadata.PLUGIN_NAME, take if scan else None
            ):
                reader.add_event(event, values)
        except event_file.DamagedFile as e:
            damage = (e.offset, e.reason)
    records = [
        (tag, meta, wall, step, _plain(metadata.decode(meta.get("kind"), value)))
        for tag, meta, wall, step, value in reader.records
    ]
    return (records, reader.scalar_arrays(), reader.skipped, damage), sum(taken)


def _plain(item):
    return ("rows", item.dtype.str, item.shape, item.tobytes()) if hasattr(item, "dtype") else item


def _scalars_equal(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _same_both_ways(paths):
    (scanned, taken), (parsed, none) = _read_dir(paths, True), _read_dir(paths, False)
    assert none == 0
    assert scanned[0] == parsed[0]
    assert _scalars_equal(scanned[1], parsed[1])
    assert scanned[2:] == parsed[2:]
    return taken, parsed[0]


def _dirs(logdir):
    found = {}
    for d, _, files in os.walk(logdir):
        paths = sorted(os.path.join(d, f) for f in files if "tfevents" in f)
        if paths:
            found[d] = paths
    return found


def test_bench_records_are_read_by_layout_as_protobuf_reads_them(tmp_path):
    bench_audit.write_logdir(str(tmp_path), runs=2, steps=1000)
    for paths in _dirs(str(tmp_path)).values():
        taken, records = _same_both_ways(paths)
        # Only each tag's first record (with its metadata) goes to protobuf.
        assert len(records) - taken == len({r[0] for r in records}) and taken > 12


def test_demo_and_hostile_records_are_read_as_protobuf_reads_them(tmp_path):
    test_hostile_files.build_logdir(tmp_path)
    dirs = {**_dirs(DEMO), **_dirs(str(tmp_path))}
    assert len(dirs) >= 20
    taken = sum(_same_both_ways(paths)[0] for paths in dirs.values())
    assert taken > 100


def _event(value, step=5, wall_time=2.5):
    summary = summary_pb2.Summary(value=[value])
    return event_pb2.Event(wall_time=wall_time, step=step, summary=summary)


def _lr_event(tensor):
    return _event(summary_pb2.Summary.Value(tag="lr/adam", tensor=tensor)).SerializeToString()


def _rows(rows, dtype=types_pb2.DT_DOUBLE, shape=None):
    rows = np.asarray(rows, dtype=np.float64)
    tensor = metadata.array_to_tensor_proto(rows)
    tensor.dtype = dtype
    if shape is not None:
        tensor.tensor_shape.CopyFrom(_shape(*shape))
    return tensor


def _odd_payloads():
    """Records of ours that are not one of the scanner's layouts (or are,
    but hold what the decoder must refuse), after a first one of each tag."""
    lr = _rows([[1, 0.1, 0.1], [2, 0.1, 0.05]])
    plain = summary_pb2.Summary.Value(tag="lr/adam", tensor=lr)
    first = _event(_value("lr/adam", lr, _meta(metadata.KIND_LR, optimizer="adam")))
    epochs = _event(_value("epochs", _strings(b'[{"epoch": 0, "step": 2}]'), _meta("epochs")))
    out = [first.SerializeToString(), epochs.SerializeToString()]
    normal = _event(plain).SerializeToString()
    out += [normal, _event(plain, step=0, wall_time=0).SerializeToString()]
    out.append(_event(plain, step=-3).SerializeToString())  # a 10-byte varint
    out.append(_event(plain, step=2**40).SerializeToString())
    named = summary_pb2.Summary.Value(tag="lr/adam", tensor=lr, node_name="n")
    out.append(_event(named).SerializeToString())
    for tensor in (
        _rows([[1, 0.1, 0.1]], dtype=types_pb2.DT_FLOAT),
        _rows([[1, 0.1], [2, 0.2]]),
        _rows([[1, 0.1, 0.1]], shape=(2, 3)),
        _rows([[1, 0.1, 0.1]], shape=(3,)),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE, double_val=[1.0, 2.0, 3.0]),
    ):
        out.append(_lr_event(tensor))
    dim_named = _rows([[1, 0.1, 0.1]])
    dim_named.tensor_shape.dim[0].name = "rows"
    out.append(_lr_event(dim_named))
    for strings in ((b'[{"epoch": 1, "step": 4}]',), (b"[]", b"[]"), (b"\xff[]",), (b"{}",)):
        value = summary_pb2.Summary.Value(tag="epochs", tensor=_strings(*strings))
        out.append(_event(value).SerializeToString())
    two = _event(plain)
    two.summary.value.add().CopyFrom(plain)
    out.append(two.SerializeToString())
    out.append(first.SerializeToString())  # the metadata again
    # The same bytes with a field repeated, reordered or unknown.
    body = normal[9 + 2 :]  # after the wall time and the one-byte step
    out.append(normal + b"\x10\x07")  # a second step: the last wins
    out.append(b"\x10\x05" + normal[:9] + body)  # the step before the wall time
    out.append(normal + b"\xa8\x06\x01")  # field 101, unknown
    out.append(normal[:9] + b"\x10\x85\x00" + body)  # a step varint longer than needed
    out.append(normal[:9] + b"\x10" + b"\xff" * 9 + b"\x7f" + body)  # a step above 2**64
    return out


def test_records_of_every_shape_are_read_as_protobuf_reads_them(tmp_path):
    path = tmp_path / "events.out.tfevents.1.odd"
    path.write_bytes(b"".join(record.frame(p) for p in _odd_payloads()))
    taken, records = _same_both_ways([str(path)])
    # The plain rows at steps 5, 0, -3 and 2**40, the step in a longer
    # varint, and the valid item list; none of the others.
    assert taken == 6 and len(records) == 25


def test_a_scan_stops_at_what_it_does_not_know():
    scanner = event_scan.Scanner()
    payloads = _odd_payloads()
    wall, step, layout, at = scanner.scan(payloads[2], 0, len(payloads[2]))
    assert (wall, step, layout.tag, layout.dims) == (2.5, 5, "lr/adam", [2, 3])
    rows = event_scan.decode(metadata.KIND_LR, layout, payloads[2], at)
    assert rows.tolist() == [[1, 0.1, 0.1], [2, 0.1, 0.05]]
    assert scanner.scan(payloads[0], 0, len(payloads[0])) is None  # metadata
    for odd in (payloads[2] + b"\x10\x07", payloads[2] + b"\xa8\x06\x01"):
        assert scanner.scan(odd, 0, len(odd)) is None  # a repeated step, an unknown field
    assert scanner.scan(payloads[2], 0, len(payloads[2])) is not None
    assert scanner.scan(b"\x09" + struct.pack("<d", 1.0), 0, 9) is None
    too_long = payloads[2][:9] + b"\x10" + b"\xff" * 11 + payloads[2][11:]
    assert scanner.scan(too_long, 0, len(too_long)) is None  # protobuf: corrupt
