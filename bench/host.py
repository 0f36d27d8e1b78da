#!/usr/bin/env python3
"""Record which machine the benchmark figures came from (evidence/bench/host.json)."""

from __future__ import annotations

import os
import platform
import time

from harness.evidence import write_json
from image.paths import EVIDENCE


def main() -> int:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    host = {
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {mem_gib:.0f} GiB",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "kernel": platform.release(),
    }
    write_json(EVIDENCE / "bench" / "host.json", host)
    print(f"[bench] {host['machine']}, {host['date']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
