"""The ES resolve fast path (image/esm-resolve-fastpath.cjs, preloaded by the image's NODE_OPTIONS) on the
real gateway: started with it and without it, each offline on fresh volumes, the gateway resolves every
module both starts load to the same URL and format, the fast path answers most of them, and both reach
live with the matrix and whatsapp plugins loaded and stop cleanly. Any other node program in the image
(the agent's, with its own async loader) runs without it: its loader is asked."""

from __future__ import annotations

import time

import pytest

from harness.containers import Volumes, gateway
from harness.resolve_record import (
    ASYNC_LOADER_ARGV,
    ASYNC_LOADER_PROGRAM,
    LOADER_ANSWER,
    RECORDER,
    differences,
    read_records,
    without_preload,
)
from image.contract import ESM_RESOLVE_FASTPATH

pytestmark = pytest.mark.container

SETTLE_S = 10  # modules the gateway loads lazily after live (provider pre-warm) are recorded too
RECORD = "resolve"


def started(runner, qa_user, scenario, root, tag: str, node_options: str) -> tuple[dict, str]:
    """One gateway start to live and stop; its resolve record and its log."""
    vols = Volumes(root / tag)
    qa_user.run(["podman", "unshare", "rm", "-rf", str(vols.root)], check=True)
    qa_user.mkdirs(vols.state, vols.logs)
    recorder = qa_user.write_file(vols.root / "recorder.cjs", RECORDER)
    env = {"NODE_OPTIONS": f"{node_options} --require=/qa/recorder.cjs", "RESOLVE_RECORD": f"/logs/{RECORD}"}
    name = f"qa-fastpath-{tag}"
    extra = ["--network=none", "-v", f"{recorder}:/qa/recorder.cjs:ro"]
    with gateway(runner, name, vols, scenario, env=env, extra=extra):
        time.sleep(SETTLE_S)
        runner.stop(name)
        exit_code = runner.exit_code(name)
        log = runner.logs(name)
    assert exit_code == 0, f"{tag}: gateway exit {exit_code}"
    records = read_records(vols.logs, RECORD)
    assert records, f"{tag}: no resolve record written (did node run the recorder?)"
    return max(records, key=lambda r: len(r["seen"])), log.stdout + log.stderr


def test_gateway_resolves_the_same_with_and_without_the_fastpath(runner, qa_user, contract, scenario, request):
    """The fast path changes no resolution of the real gateway and is taken for most of them."""
    image_options = contract.env["NODE_OPTIONS"]
    options = {"with": image_options, "without": without_preload(image_options, ESM_RESOLVE_FASTPATH.name)}
    assert options["with"] != options["without"], "the image's NODE_OPTIONS does not preload the fast path"
    root = qa_user.home / "qa-volumes" / request.node.name
    runs = {tag: started(runner, qa_user, scenario, root, tag, opts) for tag, opts in options.items()}
    (with_fp, with_log), (without, without_log) = runs["with"], runs["without"]
    common = with_fp["seen"].keys() & without["seen"].keys()
    diff = differences(with_fp, without)
    scenario.fact("resolutions", {"with": len(with_fp["seen"]), "without": len(without["seen"]), "common": len(common)})
    scenario.fact("answered_by_fastpath", {"with": with_fp["fastpath"], "without": without["fastpath"]})
    scenario.fact("differences", dict(list(diff.items())[:20]))
    for tag, log in (("with", with_log), ("without", without_log)):
        listening = [line for line in log.splitlines() if "http server listening" in line]
        scenario.fact(f"{tag}_listening", listening[-1:])
        assert listening and all(p in listening[-1] for p in contract.plugins), f"{tag}: {listening}"
    assert diff == {}
    assert len(common) >= 0.9 * min(len(with_fp["seen"]), len(without["seen"]))
    assert without["fastpath"] == 0
    assert with_fp["fastpath"] >= len(common) // 2, "the fast path answered few of the gateway's imports"


def test_a_node_program_with_its_own_async_loader(runner, qa_user, volumes, contract, scenario):
    """node 22 passes over a program's async loader for every import a sync resolve hook answers: a program
    run in the image with the image's NODE_OPTIONS (the agent's, with module.register as tsx or esmock use)
    gets its loader's answer, as shipped (the switch is the gateway's alone) and with the switch forced on
    (the hook steps aside at register())."""
    program = volumes.root / "loader-program"
    qa_user.mkdirs(program)
    for name, text in ASYNC_LOADER_PROGRAM.items():
        qa_user.write_file(program / name, text)
    script = f"cd /qa && node {' '.join(ASYNC_LOADER_ARGV)}"
    mount = ["--network=none", "-v", f"{program}:/qa:ro"]
    switch = contract.esm_fastpath_env
    runs = {
        "as shipped": runner.sh(script, extra=mount),
        f"{switch}=1": runner.sh(script, env={switch: "1"}, extra=mount),
    }
    scenario.fact("image_node_options", contract.env["NODE_OPTIONS"])
    scenario.fact("answer", {k: r.stdout.strip() or r.stderr[-300:] for k, r in runs.items()})
    for how, result in runs.items():
        assert result.ok and result.stdout.strip() == LOADER_ANSWER, (how, result.stdout, result.stderr[-500:])
