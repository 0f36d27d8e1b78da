"""A line-by-line port of OpenClaw 2026.6.11's config env substitution (src/config/env-substitution.ts).

Used to check end to end what the gateway will see after the entrypoint rendered a value;
tests/test_template_validate.py checks the same thing against the real OpenClaw once.
"""

from __future__ import annotations

import re

NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _token_at(value: str, i: int) -> tuple[str, str, int] | None:
    if value[i] != "$":
        return None
    nxt = value[i + 1] if i + 1 < len(value) else ""
    after = value[i + 2] if i + 2 < len(value) else ""
    if nxt == "$" and after == "{":
        end = value.find("}", i + 3)
        if end != -1 and NAME.match(value[i + 3 : end]):
            return "escaped", value[i + 3 : end], end
    if nxt == "{":
        end = value.find("}", i + 2)
        if end != -1 and NAME.match(value[i + 2 : end]):
            return "substitution", value[i + 2 : end], end
    return None


def substitute(value: str, env: dict[str, str]) -> str:
    out, i = [], 0
    while i < len(value):
        token = _token_at(value, i)
        if token is None:
            out.append(value[i])
            i += 1
            continue
        kind, name, end = token
        if kind == "escaped" or not env.get(name):
            out.append("${" + name + "}")
        else:
            out.append(env[name])
        i = end + 1
    return "".join(out)


def resolve(obj, env: dict[str, str]):
    if isinstance(obj, str):
        return substitute(obj, env)
    if isinstance(obj, list):
        return [resolve(v, env) for v in obj]
    if isinstance(obj, dict):
        return {k: resolve(v, env) for k, v in obj.items()}
    return obj
