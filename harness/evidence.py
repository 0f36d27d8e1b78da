"""Evidence of a QA run: per scenario a readable .txt and a machine-readable .json, plus a summary.

Evidence is written by the scenarios as they run, never by hand; `doit f1_replay` points it at
evidence/ (committed: the last real F1 run), everything else at build/qa-evidence.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

from image.paths import BUILD
from plumbing import files
from plumbing.commands import Result

EVIDENCE_DIR = Path(os.environ.get("OPENCLAW_NIX_EVIDENCE", BUILD / "qa-evidence"))
# Values never written to evidence (the QA's throwaway gateway token registers itself here).
SECRETS: set[str] = set()


def write_json(path: Path, data) -> None:
    """Evidence JSON (QA scenarios, summaries, benchmark figures): indented, UTF-8, secrets redacted."""
    files.write_json(path, data, redact=redact)


def redact(text: str) -> str:
    for secret in SECRETS:
        text = text.replace(secret, "<redacted>")
    return text


@dataclass
class Scenario:
    """What one scenario did and saw; `facts` are the figures the summary reports."""

    name: str
    title: str
    commands: list[dict] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(self, result: Result) -> Result:
        self.commands.append(result.record())
        return result

    def fact(self, key: str, value) -> None:
        self.facts[key] = value

    def write(self, outcome: str, directory: Path = EVIDENCE_DIR) -> dict:
        directory.mkdir(parents=True, exist_ok=True)
        data = {
            "scenario": self.name,
            "title": self.title,
            "outcome": outcome,
            "seconds": round(time.time() - self.started, 1),
            "facts": self.facts,
            "notes": self.notes,
            "commands": self.commands,
        }
        write_json(directory / f"{self.name}.json", data)
        lines = [f"# {self.name}: {self.title}", f"outcome: {outcome}", ""]
        lines += [f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in self.facts.items()]
        lines += [f"note: {n}" for n in self.notes]
        for cmd in self.commands:
            lines += ["", f"$ {shlex.join(cmd['argv'])}", f"(exit {cmd['returncode']}, {cmd['seconds']} s)"]
            lines += [cmd["stdout"].rstrip()[-4000:]] if cmd["stdout"].strip() else []
            lines += ["[stderr] " + cmd["stderr"].rstrip()[-4000:]] if cmd["stderr"].strip() else []
        (directory / f"{self.name}.txt").write_text(redact("\n".join(lines)) + "\n")
        return data


def write_summary(results: list[dict], run_info: dict, directory: Path = EVIDENCE_DIR) -> Path:
    """summary.json (everything) and summary.md (one page a person reads first)."""
    directory.mkdir(parents=True, exist_ok=True)
    counts = {o: sum(1 for r in results if r["outcome"] == o) for o in ("passed", "failed", "not run")}
    summary = {
        **run_info,
        "counts": counts,
        "scenarios": [
            {k: r[k] for k in ("scenario", "title", "outcome", "seconds", "tier", "facts") if k in r} for r in results
        ],
    }
    write_json(directory / "summary.json", summary)
    md = [f"# openclaw-nix QA evidence ({run_info.get('kind', 'qa')})", ""]
    md += [f"- {k}: `{v}`" for k, v in run_info.items() if not isinstance(v, dict | list)]
    md += [
        "",
        f"**{counts['passed']} passed, {counts['failed']} failed, {counts['not run']} not run**",
        "",
        "| scenario | outcome | s | key facts |",
        "|---|---|---|---|",
    ]
    for r in results:
        facts = "; ".join(f"{k}={_short(v)}" for k, v in r["facts"].items())
        md.append(f"| {r['scenario']} — {r['title']} | {r['outcome']} | {r['seconds']} | {facts} |")
    (directory / "summary.md").write_text("\n".join(md) + "\n")
    return directory / "summary.md"


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 120 else text[:117] + "..."
