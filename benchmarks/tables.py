"""Markdown table printing shared by the benchmark scripts."""


def fmt_row(cells, widths):
    """One Markdown table row: first cell left-aligned, the others right-aligned to ``widths``."""
    return "| " + " | ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"


def print_table(header, rows):
    """Print ``header`` and ``rows`` as a Markdown table with columns sized to their contents."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print(fmt_row(header, widths))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(fmt_row(r, widths))
