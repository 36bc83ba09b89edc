"""Fail a CI pass on any skipped test whose reason that pass does not expect.

Usage: check_skips.py REPORT.xml [--expect REASON]...

Reads pytest's ``--junitxml`` report, prints every skip with its reason, and exits 1 when
a reason is not one of the expected ones, or when the report holds no tests at all (a pass
that ran nothing must not look green).
"""

import argparse
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


def skips(root):
    """``(number of tests, {reason: [test id, ...]})`` from a junitxml tree."""
    total, by_reason = 0, defaultdict(list)
    for case in root.iter("testcase"):
        total += 1
        for skipped in case.iter("skipped"):  # xfail is reported here too: it counts
            reason = skipped.get("message", "").removeprefix("Skipped: ")
            by_reason[reason].append(f"{case.get('classname')}::{case.get('name')}")
    return total, by_reason


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="the file pytest's --junitxml wrote")
    parser.add_argument(
        "--expect", action="append", default=[], metavar="REASON", help="a reason allowed here"
    )
    args = parser.parse_args(argv)
    try:
        root = ET.parse(args.report).getroot()  # noqa: S314 (our own pytest wrote it)
    except (OSError, ET.ParseError) as exc:
        print(f"check_skips: cannot read {args.report}: {exc}")
        return 1
    total, by_reason = skips(root)
    count = sum(len(tests) for tests in by_reason.values())
    print(f"check_skips: {args.report}: {total} tests, {count} skipped")
    unexpected = 0
    for reason, tests in sorted(by_reason.items()):
        expected = reason in args.expect
        unexpected += 0 if expected else len(tests)
        label = "expected" if expected else "NOT EXPECTED in this pass"
        print(f"  [{len(tests)}] {reason!r} ({label})")
        for test in tests:
            print(f"      {test}")
    if total == 0:
        print("check_skips: no tests ran")
        return 1
    if unexpected:
        print(f"check_skips: {unexpected} skipped for a reason this pass does not expect")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
