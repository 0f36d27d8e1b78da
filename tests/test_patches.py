"""image/patches: the applier applies a spec exactly once or fails loudly, and the shipped fix behaves
(its JavaScript run under node with a scripted conflicting attempt)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from image.patches import apply as patch
from image.patches import specs

SPEC = next(p for p in specs() if p.stem == "session-init-conflict-retry")
RULE, REVISION = patch.load(SPEC)["replace"]
CONFLICT = "reply session initialization conflicted for agent:main:matrix:direct:@u1:example.test"


def package(root: Path, chunks: dict[str, str], version: str | None = None) -> Path:
    """A fake installed openclaw: package.json and dist/ chunks with hashed names."""
    spec = patch.load(SPEC)
    (root / "dist").mkdir(parents=True)
    (root / "package.json").write_text(json.dumps({"name": spec["package"], "version": version or spec["versions"][0]}))
    for name, text in chunks.items():
        (root / "dist" / name).write_text(text)
    return root


def chunk() -> str:
    """A chunk holding the text to replace, the logger it needs, and code around it."""
    return "".join([*RULE["same_file"], "\nfunction before() {}\n", RULE["find"], "function after() {}\n"])


OTHER = {"session-accessor-Q1.js": "const y = 2;\n" + REVISION["find"]}  # the second replacement's chunk


def test_applies_once_and_touches_nothing_else(tmp_path):
    root = package(tmp_path, {"get-reply-AbC123.js": chunk(), "other-XyZ.js": "const x = 1;\n", **OTHER})
    done = patch.apply(SPEC, root)
    assert done == [
        "dist/get-reply-AbC123.js: replacement 1 of session-init-conflict-retry",
        "dist/session-accessor-Q1.js: replacement 2 of session-init-conflict-retry",
    ]
    text = (root / "dist/get-reply-AbC123.js").read_text()
    assert RULE["find"] not in text and text.count(RULE["replace"]) == 1
    assert "function before() {}" in text and "function after() {}" in text
    assert (root / "dist/other-XyZ.js").read_text() == "const x = 1;\n"


@pytest.mark.parametrize(
    ("chunks", "version", "message"),
    [
        ({"a.js": "nothing here\n", **OTHER}, None, "replacement 1: the text to replace must occur exactly once"),
        ({"a.js": chunk(), "b.js": chunk(), **OTHER}, None, "found dist/a.js x1, dist/b.js x1"),
        ({"a.js": chunk() + RULE["find"], **OTHER}, None, "found dist/a.js x2"),
        ({"a.js": chunk(), **OTHER}, "2026.9.6", "found openclaw@2026.9.6"),
        ({"a.js": RULE["find"], **OTHER}, None, "must contain 'const log = createSubsystemLogger"),
        ({"a.js": chunk()}, None, "replacement 2: the text to replace must occur exactly once"),
    ],
    ids=["missing", "two-files", "twice", "other-release", "no-logger", "second-missing"],
)
def test_refuses_unless_exactly_once(tmp_path, chunks, version, message):
    root = package(tmp_path, chunks, version)
    before = {p.name: p.read_text() for p in (root / "dist").iterdir()}
    with pytest.raises(patch.PatchError) as err:
        patch.apply(SPEC, root)
    assert message in str(err.value.code)
    assert str(err.value.code).startswith("patch session-init-conflict-retry: ")
    assert {p.name: p.read_text() for p in (root / "dist").iterdir()} == before, "a refused patch wrote files"


def test_release_declared_not_for_is_recorded_not_applied(tmp_path):
    """A release in the spec's [not_for]: nothing written, the reason handed back for the image's record."""
    declared = next(iter(patch.load(SPEC)["not_for"]))
    root = package(tmp_path, {"a.js": "nothing of the patched code\n"}, declared)
    outcome = patch.apply_all([SPEC], root, "openclaw")
    assert outcome["applied"] == []
    assert outcome["not_applied"] == {"session-init-conflict-retry": patch.load(SPEC)["not_for"][declared]}
    assert (root / "dist/a.js").read_text() == "nothing of the patched code\n"


@pytest.mark.parametrize(
    ("chunks", "trial"),
    [({"a.js": chunk(), **OTHER}, "its texts would apply exactly"), ({"a.js": "x\n"}, "its texts do not match")],
    ids=["would-match", "no-match"],
)
def test_release_in_neither_list_stops_the_build(tmp_path, chunks, trial):
    """A release the spec does not name: the build stops, saying what a trial on a copy showed; nothing written."""
    root = package(tmp_path, chunks, "2099.1.1")
    before = {p.name: p.read_text() for p in (root / "dist").iterdir()}
    with pytest.raises(patch.PatchError) as err:
        patch.apply_all([SPEC], root, "openclaw")
    message = str(err.value.code)
    assert "not 2099.1.1" in message and trial in message and "[not_for]" in message
    assert {p.name: p.read_text() for p in (root / "dist").iterdir()} == before


def test_listed_release_is_applied_by_apply_all(tmp_path):
    root = package(tmp_path, {"a.js": chunk(), **OTHER})
    outcome = patch.apply_all([SPEC], root, "openclaw")
    assert outcome["applied"] == ["session-init-conflict-retry"] and outcome["not_applied"] == {}


def test_script_exits_nonzero_with_one_line(tmp_path):
    root = package(tmp_path, {"a.js": "nothing here\n", **OTHER})
    proc = subprocess.run(
        ["python3", str(Path(patch.__file__)), str(SPEC), str(root)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().startswith("patch session-init-conflict-retry: replacement 1: ")


def run_patched(conflicts: int, other_error: bool = False) -> dict:
    """initSessionState as patched, under node: the attempt throws `conflicts` conflicts, then succeeds."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("not run: no node on this machine")
    script = f"""
const delays = [];
globalThis.setTimeout = (fn, ms) => {{ delays.push(ms); fn(); }};
const log = {{ info: () => {{}} }};
let calls = 0;
async function initSessionStateAttempt(params, staleSnapshotRetried) {{
  calls += 1;
  if (staleSnapshotRetried !== false) throw new Error("outer retries must start a fresh attempt");
  if ({json.dumps(other_error)}) throw new Error("disk full");
  if (calls <= {conflicts}) throw new Error({json.dumps(CONFLICT)});
  return {{ sessionKey: params.key }};
}}
{RULE["replace"]}
initSessionState({{ key: "k" }}).then(
  (value) => console.log(JSON.stringify({{ value, calls, delays }})),
  (error) => console.log(JSON.stringify({{ error: error.message, calls, delays }})),
);
"""
    proc = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_conflicts_are_retried_with_growing_jittered_delays():
    out = run_patched(conflicts=4)
    assert out["value"] == {"sessionKey": "k"} and out["calls"] == 5
    bases = [250, 500, 1000, 2000]
    assert len(out["delays"]) == 4
    assert all(0.75 * b <= d <= 1.25 * b for d, b in zip(out["delays"], bases, strict=True)), out["delays"]


def test_retries_are_bounded_and_the_conflict_still_surfaces():
    out = run_patched(conflicts=100)
    assert out["error"] == CONFLICT and out["calls"] == 6 and len(out["delays"]) == 5
    assert max(out["delays"]) <= 5000


def test_other_errors_are_not_retried():
    out = run_patched(conflicts=0, other_error=True)
    assert out == {"error": "disk full", "calls": 1, "delays": []}


def revisions(*entries) -> list[str]:
    """createReplySessionInitializationRevision as patched, under node, for each entry."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("not run: no node on this machine")
    calls = f"{json.dumps(entries)}.map(createReplySessionInitializationRevision)"
    script = f"{REVISION['replace']}\nconsole.log(JSON.stringify({calls}));"
    proc = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_revision_ignores_key_order_only():
    """What made every later message of a session conflict: the same entry, hydrated from disk with
    skillsSnapshot.prompt last, against the writer's cached copy with it first."""
    cached = {"sessionId": "s1", "skillsSnapshot": {"prompt": "p", "skills": [{"name": "a"}, {"name": "b"}]}}
    hydrated = {"skillsSnapshot": {"skills": [{"name": "a"}, {"name": "b"}], "prompt": "p"}, "sessionId": "s1"}
    changed = {"sessionId": "s1", "skillsSnapshot": {"prompt": "p2", "skills": [{"name": "a"}, {"name": "b"}]}}
    reordered = {"sessionId": "s1", "skillsSnapshot": {"prompt": "p", "skills": [{"name": "b"}, {"name": "a"}]}}
    a, b, c, d, missing = revisions(cached, hydrated, changed, reordered, None)
    assert a == b
    assert len({a, c, d}) == 3, "a changed value or a reordered list must still be a conflict"
    assert missing == "null"
