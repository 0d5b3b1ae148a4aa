"""Compare two py-spy profiles recorded with `--format raw` (collapsed stacks, optionally
gzipped): the frames whose inclusive share of the samples grew the most.

    python -m scripts.profile_diff before.raw.txt.gz after.raw.txt.gz [--top 25]
"""

import argparse
import gzip
import re
from collections import Counter
from pathlib import Path

from orchestrator.process_exit import run_and_exit

LINE_NUMBER = re.compile(r":\d+\)$")


def inclusive_shares(path: Path) -> dict[str, float]:
    """Each frame's share of the samples (in %), counted once per stack it appears in; frames
    are named without their line number, so a function counts as one."""
    samples: Counter[str] = Counter()
    total = 0
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as lines:
        for line in lines:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack:
                continue
            total += int(count)
            for frame in {LINE_NUMBER.sub(")", frame) for frame in stack.split(";")}:
                samples[frame] += int(count)
    return {frame: 100 * count / total for frame, count in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--top", type=int, default=25)
    arguments = parser.parse_args()
    before, after = inclusive_shares(arguments.before), inclusive_shares(arguments.after)
    growth = sorted(
        ((after.get(frame, 0) - before.get(frame, 0), frame) for frame in before.keys() | after),
        reverse=True,
    )
    for change, frame in growth[: arguments.top]:
        print(f"{change:+6.1f}  {before.get(frame, 0):5.1f} -> {after.get(frame, 0):5.1f}  {frame}")


if __name__ == "__main__":
    run_and_exit(main)
