"""The kubenix module against the kustomize base: object by object, field by field.

Both renders describe the same deployment; they differ only where the tools add their own marks,
and those are the only things set aside before comparing (each named here):
  KUBENIX_ANNOTATIONS  kubenix stamps every object with its project name and Kubernetes API version;
  KUBENIX_LABELS       kubenix's `generated` list labels every object with a hash of the whole list;
  CONFIGMAP_SUFFIX     a ConfigMap's name ends in a hash of its data, computed differently by
                       kustomize's configMapGenerator and kubenix's mkNameHash: the suffix is cut from
                       the ConfigMap's name and from every reference to that exact name.
Nothing else is normalised: order of lists, types of values and absent/empty fields all count.
"""

from __future__ import annotations

import copy
import re

KUBENIX_ANNOTATIONS = ("kubenix/project-name", "kubenix/k8s-version")
KUBENIX_LABELS = ("kubenix/hash",)
CONFIGMAP_SUFFIX = re.compile(r"^(?P<base>.+)-(?P<suffix>[0-9a-z]{10})$")


def key(obj: dict) -> str:
    meta = obj.get("metadata", {})
    return f"{obj.get('kind')}/{meta.get('namespace', '-')}/{meta.get('name')}"


def _drop(meta: dict, field: str, names: tuple[str, ...]) -> None:
    values = meta.get(field)
    if values is None:
        return
    for name in names:
        values.pop(name, None)
    if not values:
        del meta[field]


def _rename(value, names: dict[str, str]):
    """Every string equal to a hashed ConfigMap name, anywhere in `value`, without its suffix."""
    if isinstance(value, dict):
        return {k: _rename(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, names) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


def normalised(objects: list[dict]) -> list[dict]:
    """The objects with exactly the named tool marks set aside (a deep copy; the input is untouched)."""
    out = copy.deepcopy(objects)
    names = {}
    for obj in out:
        meta = obj.get("metadata", {})
        _drop(meta, "annotations", KUBENIX_ANNOTATIONS)
        _drop(meta, "labels", KUBENIX_LABELS)
        match = CONFIGMAP_SUFFIX.match(meta.get("name", "")) if obj.get("kind") == "ConfigMap" else None
        if match:
            names[meta["name"]] = match["base"]
    return _rename(out, names)


def field_differences(expected, got, path: str = "") -> list[str]:
    """Every field where `got` differs from `expected` (type, value, presence, list length/order)."""
    if type(expected) is not type(got):
        return [f"{path or '.'}: {expected!r} != {got!r}"]
    if isinstance(expected, dict):
        found = []
        for k in sorted(set(expected) | set(got), key=str):
            sub = f"{path}.{k}" if path else str(k)
            if k not in got:
                found.append(f"{sub}: missing (expected {expected[k]!r})")
            elif k not in expected:
                found.append(f"{sub}: unexpected {got[k]!r}")
            else:
                found += field_differences(expected[k], got[k], sub)
        return found
    if isinstance(expected, list):
        if len(expected) != len(got):
            return [f"{path}: {len(expected)} items != {len(got)} items: {expected!r} != {got!r}"]
        return [
            d
            for i, (e, g) in enumerate(zip(expected, got, strict=True))
            for d in field_differences(e, g, f"{path}[{i}]")
        ]
    return [] if expected == got else [f"{path}: {expected!r} != {got!r}"]


def differences(expected: list[dict], got: list[dict]) -> list[str]:
    """Object by object (keyed by kind/namespace/name), then field by field, after `normalised`."""
    want = {key(o): o for o in normalised(expected)}
    have = {key(o): o for o in normalised(got)}
    found = [f"{k}: missing" for k in want if k not in have]
    found += [f"{k}: unexpected object" for k in have if k not in want]
    for k in want.keys() & have.keys():
        found += [f"{k}: {d}" for d in field_differences(want[k], have[k])]
    return sorted(found)


def dangling_configmap_refs(objects: list[dict]) -> list[str]:
    """configMap volumes that name no ConfigMap of the render (the hash suffix must be referenced as made)."""
    made = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    found = []
    for obj in objects:
        for vol in obj.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", []):
            name = vol.get("configMap", {}).get("name")
            if name is not None and name not in made:
                found.append(f"{key(obj)}: volume {vol['name']} -> ConfigMap {name}, not in the render")
    return found
