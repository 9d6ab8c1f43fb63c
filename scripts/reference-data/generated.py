"""What the reference-data scripts share on the output side: the `#` header a generated file
starts with, and the command line that writes the file or, with `--check`, compares it."""

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Callable, List


def comment_header(sections: List[str]) -> str:
    """The sections as `# ` comment lines wrapped at 96 columns, an empty `#` line between."""
    return "#\n".join(
        "".join(f"# {line}\n" for line in textwrap.wrap(text, 96, break_on_hyphens=False))
        for text in sections
    )


def main(doc: str, out: Path, build: Callable[[], str], noun: str) -> None:
    """Writes `build()` to `out`, or with `--check` exits non-zero where `out` differs from it;
    `noun` names what the file's entries are in the summary line."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed file")
    args = ap.parse_args()
    text = build()
    if args.check:
        if out.read_bytes() != text.encode("utf-8"):
            sys.exit(f"{out} differs from what the script generates")
        print(f"{out}: up to date")
    else:
        out.write_bytes(text.encode("utf-8"))
        n = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        print(f"{out}: {n} {noun}, {len(text.encode('utf-8'))} bytes")
