"""Rewrite the serzoo commands of the example scripts here from their ``# original:`` lines.

Run ``python examples/original/regenerate.py`` after changing the translator; the test suite checks
that the scripts are what this writes. Two changes to the bare translation make a script runnable:
the original appended every run to one ``-sm`` folder, but a serzoo run directory holds one run, so a
repeated ``--run-dir`` gets a suffix; and ``-lm X.h5`` named the model the original saved as
``X.h5``, which serzoo saves as ``X/fold00/model.keras``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from serzoo.compat.original import translate

HERE = Path(__file__).resolve().parent
SCRIPTS = ("basic.sh", "pretrained.sh", "balanced_learning.sh", "various_metrics.sh")


def serzoo_line(original: str, seen: dict[str, int]) -> str:
    """The script's command for one original line; ``seen`` counts the run directories used so far."""
    argv = translate(original).argv
    for i, arg in enumerate(argv[:-1]):
        if arg == "--run-dir":
            seen[argv[i + 1]] = seen.get(argv[i + 1], 0) + 1
            if seen[argv[i + 1]] > 1:
                argv[i + 1] = f"{argv[i + 1]}-{seen[argv[i + 1]]}"
        elif arg == "--init-from" and argv[i + 1].endswith(".h5"):
            argv[i + 1] = argv[i + 1][:-3] + "/fold00/model.keras"
    return shlex.join(["serzoo", "train", *argv]) + ' "$@"'


def regenerate(text: str) -> str:
    """The script ``text`` with each command after an ``# original:`` line (and its notes) rewritten."""
    out, seen, original = [], {}, None
    for line in text.splitlines():
        if line.startswith(("# not translated: ", "# note: ")) or line.startswith("serzoo train "):
            continue
        out.append(line)
        if line.startswith("# original: "):
            original = line[len("# original: "):]
            result = translate(original)
            out += [f"# not translated: {flag}: {reason}" for flag, reason in result.unmapped]
            out += [f"# note: {note}" for note in result.notes]
            out.append(serzoo_line(original, seen))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    for name in SCRIPTS:
        path = HERE / name
        path.write_text(regenerate(path.read_text()))
    sys.exit(0)
