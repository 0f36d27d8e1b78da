"""The kubenix module, evaluated with real kubenix and nixpkgs.lib, against `kubectl kustomize deploy/k8s`.

Object by object, field by field, after setting aside only what harness/kubenix.py names (kubenix's
own annotations and label, the ConfigMap hash suffix). The kustomize render's checks (schema,
restricted policy, checkov) run on the kubenix objects too; planted drifts must fail. Without nix,
kubectl or the local copies of the sources these report "not run", never pass.
"""

from __future__ import annotations

import copy
import json

import pytest

from harness import k8s, kubenix
from harness.kubenix_cases import CHANGED, CLEAN, checks, drifts, expected_changed, planted_copy
from image.nix import check as nix_check
from image.nix import kubenix as module
from image.nix import lock as nix_lock
from image.nix import sources


def not_run_without_tools(call):
    try:
        return call()
    except (nix_check.NixUnavailable, sources.SourceMissing, k8s.ToolMissing) as err:
        pytest.skip(f"not run: {err}")


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return not_run_without_tools(k8s.render)


@pytest.fixture(scope="module")
def defaults() -> list[dict]:
    return not_run_without_tools(module.evaluate).items


@pytest.fixture(scope="module")
def changed() -> list[dict]:
    return not_run_without_tools(lambda: module.evaluate(CHANGED)).items


def without_checkov(found: dict) -> dict:
    """The checks, with checkov's "not run" turned into a skip (never a pass)."""
    if isinstance(found["checkov_failures"], str):
        pytest.skip(found["checkov_failures"])
    return found


# --- the comparison itself (no nix needed) ---------------------------------------------------------


def test_comparison_sets_aside_only_the_named_marks():
    base = {
        "kind": "ConfigMap",
        "metadata": {"name": "x-overlay-abcdefghij", "namespace": "n", "labels": {"a": "b"}},
        "data": {"f": "1"},
    }
    sts = {
        "kind": "StatefulSet",
        "metadata": {"name": "x", "namespace": "n"},
        "spec": {"template": {"spec": {"volumes": [{"name": "o", "configMap": {"name": "x-overlay-abcdefghij"}}]}}},
    }
    theirs = copy.deepcopy([base, sts])
    theirs[0]["metadata"]["name"] = theirs[1]["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] = (
        "x-overlay-0123456789"
    )
    for obj in theirs:
        obj["metadata"]["annotations"] = dict.fromkeys(kubenix.KUBENIX_ANNOTATIONS, "v")
        obj["metadata"].setdefault("labels", {})["kubenix/hash"] = "h"
    assert kubenix.differences([base, sts], theirs) == []
    other = copy.deepcopy(theirs)
    other[0]["metadata"]["annotations"]["someone/else"] = "v"
    other[0]["metadata"]["labels"]["kubenix/other"] = "v"
    other[1]["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] = "y-overlay-0123456789"
    assert kubenix.differences([base, sts], other) == [
        "ConfigMap/n/x-overlay: metadata.annotations: unexpected {'someone/else': 'v'}",
        "ConfigMap/n/x-overlay: metadata.labels.kubenix/other: unexpected 'v'",
        "StatefulSet/n/x: spec.template.spec.volumes[0].configMap.name: 'x-overlay' != 'y-overlay-0123456789'",
    ]


def test_comparison_counts_types_order_and_empty_fields():
    a = [{"kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 1}, {"port": 2}], "x": {}}}]
    for edit in (
        lambda o: o["spec"]["ports"].reverse(),
        lambda o: o["spec"]["ports"][0].update(port="1"),
        lambda o: o["spec"].pop("x"),
        lambda o: o["spec"].update(y=None),
    ):
        b = copy.deepcopy(a)
        edit(b[0])
        assert kubenix.differences(a, b), b


# --- with real kubenix -------------------------------------------------------------------------------


@pytest.mark.nix
def test_defaults_give_the_kustomize_objects(rendered, defaults):
    assert [kubenix.key(o) for o in kubenix.normalised(defaults)] != []
    assert kubenix.differences(rendered, defaults) == []
    assert kubenix.dangling_configmap_refs(defaults) == []


@pytest.mark.nix
def test_changed_options_give_what_they_document(rendered, changed):
    assert kubenix.differences(expected_changed(rendered), changed) == []
    assert kubenix.dangling_configmap_refs(changed) == []
    (cm,) = [o for o in changed if o["kind"] == "ConfigMap"]
    assert json.loads(cm["data"]["settings.json5"]) == CHANGED["overlay"]["settings"]


@pytest.mark.nix
def test_changed_overlay_changes_the_configmap_name(defaults, changed):
    names = [{o["metadata"]["name"] for o in objs if o["kind"] == "ConfigMap"} for objs in (defaults, changed)]
    assert names[0] != names[1], "an overlay change must roll the pod (new ConfigMap name)"


@pytest.mark.nix
@pytest.mark.parametrize("which", ["defaults", "changed"])
def test_kustomize_checks_pass_on_the_kubenix_objects(request, which):
    assert without_checkov(checks(request.getfixturevalue(which))) == CLEAN


@pytest.mark.nix
@pytest.mark.parametrize("drift", ["port", "readOnlyRootFilesystem dropped", "pod runAsNonRoot dropped"])
def test_planted_drift_fails(tmp_path, rendered, contract, drift):
    file, old, new = drifts(contract)[drift]
    objects = not_run_without_tools(lambda: module.evaluate(flake_dir=planted_copy(tmp_path, file, old, new))).items
    found = kubenix.differences(rendered, objects)
    assert found, drift
    if drift == "port":
        assert any(f.endswith("containerPort: 18789 != 18790") for f in found), found
    if drift == "readOnlyRootFilesystem dropped":
        policy = without_checkov(checks(objects))
        assert policy["restricted_violations"] and policy["checkov_failures"], policy


@pytest.mark.nix
def test_an_unknown_option_is_an_error(defaults):
    with pytest.raises(module.EvaluationFailed, match="does not exist"):
        module.evaluate({"namespac": "typo"})


@pytest.mark.nix
def test_flake_lock_pins_the_local_sources_by_rev_and_nar_hash(tmp_path):
    for name, source in sources.SOURCES.items():
        pin = sources.locked(name)
        assert pin["type"] == "github" and f"{pin['owner']}/{pin['repo']}" == source.github, pin
        not_run_without_tools(lambda source=source, pin=pin: sources.require_rev(source, pin["rev"]))
        src = nix_lock.export_source(source.git_dir, pin["rev"], tmp_path / name)
        assert nix_lock.nar_hash(src) == pin["narHash"], name


@pytest.mark.nix
def test_a_contract_volume_the_module_does_not_place_fails_evaluation(tmp_path, defaults):
    """A new volume in the contract must not go silently unmounted: the module refuses to evaluate."""
    text = '[volumes.cache]\npath = "/cache"\npersistent = true\npurpose = "planted"\n\n[volumes.config]'
    flake = planted_copy(tmp_path, "image/contract.toml", "[volumes.config]", text)
    with pytest.raises(module.EvaluationFailed, match="places the volumes"):
        module.evaluate(flake_dir=flake)


def test_secret_as_files_mounts_the_secret_and_points_file_variables_into_it():
    """secretAs = "files": no envFrom; the Secret read-only at the contract's secret_mount, NAME_FILE set."""
    objects = not_run_without_tools(
        lambda: module.evaluate(
            {"secretAs": "files", "secretFileKeys": ["OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_MATRIX_TOKEN"]}
        )
    ).items
    contract = nix_check.Contract.load()
    mount = contract.kubernetes["secret_mount"]
    pod = k8s.pod_spec(objects)
    container = pod["containers"][0]
    assert "envFrom" not in container
    from_files = [
        {"name": "OPENCLAW_GATEWAY_TOKEN_FILE", "value": f"{mount}/OPENCLAW_GATEWAY_TOKEN"},
        {"name": "OPENCLAW_MATRIX_TOKEN_FILE", "value": f"{mount}/OPENCLAW_MATRIX_TOKEN"},
    ]
    others = [  # the other allowlisted names still come from the Secret, each optional
        {
            "name": a["name"],
            "valueFrom": {"secretKeyRef": {"name": "openclaw-nix-env", "key": a["name"], "optional": True}},
        }
        for a in contract.allowlist
        if a["name"] not in ("OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_MATRIX_TOKEN")
    ]
    assert container["env"] == from_files + others
    assert {"name": "secrets", "mountPath": mount, "readOnly": True} in container["volumeMounts"]
    assert {"name": "secrets", "secret": {"secretName": "openclaw-nix-env", "defaultMode": 0o440}} in pod["volumes"]
    assert without_checkov(checks(objects)) == CLEAN


def test_secret_file_keys_must_be_allowlisted():
    with pytest.raises(module.EvaluationFailed, match="OPENROUTER_API_KEY"):
        not_run_without_tools(lambda: module.evaluate({"secretAs": "files", "secretFileKeys": ["OPENROUTER_API_KEY"]}))
