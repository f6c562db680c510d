"""The CSV export of every recorded step: one format for the route and the CLI.

Example:
  >>> import numpy as np
  >>> print(to_csv([("run1", {"sgd": np.array([[1.0, 0.1, 0.05]])})]), end="")
  run,optimizer,step,planned,actual
  run1,sgd,1,0.1,0.05
"""

CSV_HEADER = "run,optimizer,step,planned,actual\n"


def to_csv(runs):
    """Renders `(run name, {optimizer: float64 [n, 3] step/planned/actual})`
    pairs as CSV, header first.

    Floats are written with `repr`, the shortest text that reads back as the
    same float64; an unknown value (a Keras-only run's planned LR) is an
    empty field. Names with commas, quotes or line breaks are quoted.
    """
    lines = [CSV_HEADER]
    for run, optimizers in runs:
        run_field = _field(run)
        for name, rows in optimizers.items():
            prefix = f"{run_field},{_field(name)},"
            steps = rows[:, 0].astype("int64").tolist()
            planned = [_float(v) for v in rows[:, 1].tolist()]
            actual = [_float(v) for v in rows[:, 2].tolist()]
            lines.extend(
                f"{prefix}{s},{p},{a}\n" for s, p, a in zip(steps, planned, actual, strict=True)
            )
    return "".join(lines)


def _float(value):
    return "" if value != value else repr(value)


def _field(text):
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
