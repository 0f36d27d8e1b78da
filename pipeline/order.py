"""The one definition of the pipeline's order. dodo.py (default tasks, F1's chain), the up-to-date
check, the pipeline bench and nox all read it from here."""

from __future__ import annotations

# Build the image and load it into the QA user's podman: what every later step needs.
BUILD_CHAIN = ("pin", "template", "entrypoint", "builder", "image", "load")
# `doit` with no arguments: the chain, then the smoke tier (scenarios marked `smoke`).
DEFAULT = (*BUILD_CHAIN, "smoke")
# `doit qa`: the default chain, then the full tier (every other scenario); what nox, CI and F1 run.
FULL = (*DEFAULT, "qa")
# `doit f1_replay`: both tiers from a clean slate; f1_replay's own action then collects the evidence.
F1 = ("f1_clean", *FULL)
