"""Stage: read ``labels.txt``, the class names in output order.

Read before any model code runs: a wrong labels file is the cheapest error to report, and
the class count it gives is what the model's output is checked against (ultralytics#14320:
class count off by one after export).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from lepton.export.errors import UsageError


def read_labels(path: Path) -> tuple[str, ...]:
    """One label per line; surrounding whitespace and blank lines are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"model.labels {path}: file not found; write one label per line in the model's "
            "output-class order and point model.labels at it (relative to the config file)"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"model.labels {path}: cannot be read ({err}); write it as UTF-8 text") from err
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not labels:
        raise UsageError(f"model.labels {path}: no labels in the file; write one label per line")
    duplicates = sorted(label for label, n in Counter(labels).items() if n > 1)
    if duplicates:
        raise UsageError(
            f"model.labels {path}: duplicate labels {duplicates}; each output class needs its own name"
        )
    return labels


def check_background_labels(background: tuple[str, ...], labels: tuple[str, ...], path: Path) -> None:
    """The decoder's 'no defect' labels must be real classes, or no event logic can use them."""
    unknown = sorted(set(background) - set(labels))
    if unknown:
        raise UsageError(
            f"model.background_labels: {unknown} are not in {path} ({list(labels)}); "
            "use labels from the file, or background_labels = [] when every class is a defect"
        )


__all__ = ["check_background_labels", "read_labels"]
