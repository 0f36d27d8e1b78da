"""harness/kube_play.py's translation for `podman kube play`: only the named steps, nothing else changed."""

from __future__ import annotations

import base64
import copy
import json

import pytest

from harness import kube_play


def test_translation_makes_the_controllers_pod_and_claims(docs, contract):
    before = copy.deepcopy(docs)
    play = kube_play.translate(docs, {"openclaw-nix-env": {"K": "dg=="}}, {contract.port: 40001})
    assert docs == before, "the input is not modified"
    assert [s.name for s in play.steps] == [
        "statefulset-to-pod",
        "claims-from-templates",
        "secret-as-podman-secret",
        "ports-on-loopback",
        "resources-removed",
    ]
    (sts,) = [d for d in docs if d["kind"] == "StatefulSet"]
    (pod,) = [d for d in play.pod if d["kind"] == "Pod"]
    assert play.pod_name == "openclaw-nix-0" and play.container("gateway") == "openclaw-nix-0-gateway"
    assert [c["metadata"]["name"] for c in play.claims] == ["state-openclaw-nix-0", "logs-openclaw-nix-0"]
    claimed = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claimed == {"state": "state-openclaw-nix-0", "logs": "logs-openclaw-nix-0"}
    # the rest of the pod spec is the template's, unchanged but for the volumes added and the host port
    template = copy.deepcopy(sts["spec"]["template"]["spec"])
    got = copy.deepcopy(pod["spec"])
    got["volumes"] = [v for v in got["volumes"] if "persistentVolumeClaim" not in v]
    (port,) = got["containers"][0]["ports"]
    assert (port.pop("hostIP"), port.pop("hostPort")) == ("127.0.0.1", 40001)
    assert "resources" not in got["containers"][0]
    template["containers"][0].pop("resources")
    assert got == template
    assert {d["kind"] for d in play.pod} == {d["kind"] for d in docs} - {"StatefulSet"} | {"Pod"}
    assert json.loads(play.secrets["openclaw-nix-env"]) == {"K": "dg=="}


def test_secret_data_is_what_kubectl_writes():
    assert kube_play.secret_data({"A": "x y"}) == {"A": base64.b64encode(b"x y").decode()}


def test_a_secret_the_pod_reads_must_be_given(docs, contract):
    with pytest.raises(ValueError, match="openclaw-nix-env"):
        kube_play.translate(docs, {}, {contract.port: 40001})
