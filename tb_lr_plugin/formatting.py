"""How values are written out: numbers for people, strict JSON for machines.

The Python twin of `frontend/src/format.js` (named apart from the builtin
`format`): the audit's messages, the CLI's table and the routes' JSON all
write numbers through here, so the tab and the terminal spell a value the
same way.
"""

import math

import numpy as np


def is_number(x):
    """True for an `int` or `float` that is not a `bool`."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_finite(x):
    """True for a finite `int` or `float` that is not a `bool`."""
    return is_number(x) and math.isfinite(x)


def lr(x):
    """A learning rate in compact scientific notation: 1e-3, 2.5e-4.

    Example:
      >>> lr(0.00025), lr(1.0), lr(0.0), lr(None)
      ('2.5e-4', '1e0', '0', '-')
    """
    if x is None:
        return "-"
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    mantissa, exponent = f"{x:.3e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def number(x):
    """A metric value in a sentence, four significant digits: 0.1235.

    Example:
      >>> number(0.123456), number(None), number(float("nan"))
      ('0.1235', '-', 'nan')
    """
    if x is None:
        return "-"
    x = float(x)
    return f"{x:.4g}" if math.isfinite(x) else str(x)


def cell(x):
    """A table cell: four significant digits, short exponents (1.2e-5).

    Example:
      >>> cell(1.2345e-05), cell(3), cell(float("-inf")), cell("val_loss")
      ('1.234e-5', '3', '-inf', 'val_loss')
    """
    if x is None:
        return "-"
    if not is_number(x):
        return str(x)
    if not math.isfinite(x):
        return "nan" if x != x else ("inf" if x > 0 else "-inf")
    text = f"{x:.4g}"
    if "e" in text:  # 1.235e-05 -> 1.235e-5
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def strict_json(obj):
    """A JSON-like structure made strict JSON: non-finite floats -> `None`.

    Keys become strings; tuples lists; numpy scalars and arrays Python
    values.

    Example:
      >>> strict_json({"a": float("nan"), 1: (np.float32(2.0),)})
      {'a': None, '1': [2.0]}
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, np.generic):
        return strict_json(obj.item())
    if isinstance(obj, np.ndarray):
        return strict_json(obj.tolist())
    return obj


def wait(event, compact=False):
    """A plateau event's patience count, in its framework's own terms.

    Keras reduces when `wait >= patience` ("3/3"); torch's
    `ReduceLROnPlateau` when `num_bad_epochs > patience`, and says so
    ("3 > 2" when `compact`, under a "num_bad_epochs" heading).

    Example:
      >>> wait({"wait": 3, "patience": 3}), wait({"wait": 3, "patience": 2, "framework": "torch"})
      ('3/3', 'num_bad_epochs 3 > patience 2')
    """
    count, patience = event.get("wait"), event.get("patience")
    if count is None or patience is None:
        return "-"
    if event.get("framework") == "torch":
        sign = ">" if is_number(count) and is_number(patience) and count > patience else "<="
        if compact:
            return f"{count} {sign} {patience}"
        return f"num_bad_epochs {count} {sign} patience {patience}"
    return f"{count}/{patience}"
