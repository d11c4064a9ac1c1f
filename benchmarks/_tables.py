"""Plain-text tables shared by the benchmark scripts."""

import sys


def print_table(title, headers, rows, notes=()):
    """Print a plain-text table with right-aligned columns."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [
        max(len(headers[j]), *(len(row[j]) for row in cells))
        for j in range(len(headers))
    ]
    print()
    print(title)
    print("=" * len(title))
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    for note in notes:
        print(note)
    sys.stdout.flush()
