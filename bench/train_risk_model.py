"""Make the shipped delay-risk model (contract/models/delay-risk.json): the `risk-train`
scenario's three variants with seed 1 to train on and with seed 2 to hold out (not the A/B's
seed, 42, nor its fault steps), then `fakalab model train` with the held-out figures recorded.

    .venv/bin/python bench/train_risk_model.py [--runs runs/risk-train] [--skip-drills]

About 12 minutes (six drills of 100 s). `--skip-drills` trains on runs already there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fakalab.contract.delay_risk import SHIPPED_MODEL

FAKALAB = [sys.executable, "-m", "fakalab"]


def main(argv: list[str]) -> int:
    runs = Path(argv[argv.index("--runs") + 1]) if "--runs" in argv else Path("runs/risk-train")
    parts = {seed: runs / f"seed-{seed}" for seed in (1, 2)}
    if "--skip-drills" not in argv:
        for seed, out in parts.items():
            # exit 1 (an SLO breached) is expected: these runs are made to have delays
            done = subprocess.run([*FAKALAB, "drill", "risk-train", "--seed", str(seed),
                                   "--out", str(out), "--no-report"])
            if done.returncode not in (0, 1):
                return done.returncode
    train = sorted(p for p in parts[1].iterdir() if p.is_dir())
    held = sorted(p for p in parts[2].iterdir() if p.is_dir())
    command = [*FAKALAB, "model", "train", *map(str, train),
               *(a for p in held for a in ("--held-out", str(p))), "--out", str(SHIPPED_MODEL),
               "--note", "bench/train_risk_model.py: risk-train seed 1 (trained), seed 2 "
               "(held out)"]
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
