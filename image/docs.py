"""Generate the README's contract tables, so the docs cannot drift from image/contract.toml.

Sections live between `<!-- contract:NAME -->` and `<!-- /contract:NAME -->`; `python -m image.docs`
rewrites them, tests/test_docs.py fails when they are stale.
"""

from __future__ import annotations

import re
import sys

from image.contract import Contract
from image.paths import REPO

README = REPO / "README.md"
SECTION = re.compile(r"(<!-- contract:(\w+) -->\n)(.*?)(<!-- /contract:\2 -->)", re.S)


def volumes(c: Contract) -> str:
    rows = ["| path | persistent | holds |", "|---|---|---|"]
    rows += [
        f"| `{v['path']}` | {'yes' if v['persistent'] else 'no (re-seeded each start)'} | {v['purpose']} |"
        for v in c.volumes.values()
    ]
    return "\n".join(rows)


def env(c: Contract) -> str:
    rows = ["| variable | value |", "|---|---|"] + [f"| `{k}` | `{v}` |" for k, v in c.env.items()]
    return "\n".join(rows)


def allowlist(c: Contract) -> str:
    rows = ["| variable | required | default | what |", "|---|---|---|---|"]
    for a in c.allowlist:
        default = f"`{a['default']}`" if "default" in a else ("—" if a.get("required") else '`""` + warning')
        rows.append(f"| `{a['name']}` | {'**yes**' if a.get('required') else 'no'} | {default} | {a.get('help', '')} |")
    return "\n".join(rows)


def toolchain(c: Contract) -> str:
    return "\n".join(f"- `{t.name}`: `{' '.join(t.version_cmd)}`" for t in c.toolchain)


def image(c: Contract) -> str:
    return "\n".join(
        [
            f"- image: `{c.image_ref}`, OpenClaw `{c.openclaw_version}` "
            f"(nix-openclaw `{c.raw['openclaw']['nix_openclaw_ref']}`), linux/amd64",
            f"- ports: {', '.join(f'`{p}`' for p in c.exposed_ports)}; no `User` (run as any non-root uid)",
            f"- entrypoint: `{' '.join(c.entrypoint)}`; default command: `{' '.join(c.cmd)}`",
            f"- plugins baked in: {', '.join(f'`{c.plugin_path(p)}`' for p in c.plugins)}",
        ]
    )


RENDERERS = {"image": image, "volumes": volumes, "env": env, "allowlist": allowlist, "toolchain": toolchain}


def render_readme(text: str, contract: Contract) -> str:
    def replace(m: re.Match[str]) -> str:
        return m.group(1) + RENDERERS[m.group(2)](contract) + "\n" + m.group(4)

    return SECTION.sub(replace, text)


def main() -> int:
    text = README.read_text()
    new = render_readme(text, Contract.load())
    if new != text:
        README.write_text(new)
        print(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
