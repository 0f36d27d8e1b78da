"""Generate the contract tables and bench figures in README.md and docs/*.md, so the docs cannot drift.

Sections live between `<!-- contract:NAME -->` and `<!-- /contract:NAME -->` in any of those pages (the image,
volume, variable and environment tables on the README's front page, the toolchain in docs/running.md, the bench
figures in docs/performance.md); `python -m pipeline.docs` rewrites them, tests/test_docs.py fails when one is
stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from image.contract import Contract
from image.package_shares import BASE
from image.paths import EVIDENCE, REPO
from plumbing.files import read_json

README = REPO / "README.md"
DOCS = REPO / "docs"
BENCH = EVIDENCE / "bench"
SECTION = re.compile(r"(<!-- contract:(\w+) -->\n)(.*?)(<!-- /contract:\2 -->)", re.S)


def volumes(c: Contract) -> str:
    def kind(v: dict) -> str:
        if v.get("optional"):
            return "optional, read-only" if v.get("read_only") else "optional"
        return "yes" if v["persistent"] else "no (re-seeded each start)"

    rows = ["| path | persistent | holds |", "|---|---|---|"]
    rows += [f"| `{v['path']}` | {kind(v)} | {v['purpose']} |" for v in c.volumes.values()]
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
            f"(nix-openclaw `{c.nix_openclaw_ref}`), linux/amd64",
            f"- ports: {', '.join(f'`{p}`' for p in c.exposed_ports)}; no `User` (run as any non-root uid)",
            f"- entrypoint: `{' '.join(c.entrypoint)}`; default command: `{' '.join(c.cmd)}`",
            f"- plugins baked in: {', '.join(f'`{c.plugin_path(p)}`' for p in c.plugins)}",
        ]
    )


def _bench(name: str) -> dict | None:
    return read_json(BENCH / f"{name}.json")


def performance(c: Contract) -> str:
    """Figures from evidence/bench/*.json (written by `nox -s bench`), never typed by hand."""
    out = []
    host = _bench("host")
    if host:
        out.append(f"Measured on {host['machine']} ({host['date']}).\n")
    entry, start, size, pipe = (_bench(n) for n in ("entry_overhead", "start", "size", "pipeline"))
    if start:
        m, r = start["median_s"], start["ratio"]
        labels = {
            "cold_live": "first start to `/healthz` live",
            "cold_ready": "first start to `/readyz` ready",
            "warm_live": "restart to `/healthz` live",
            "warm_ready": "restart to `/readyz` ready",
        }
        out += [
            f"| start (median of {start['runs']}, {start['builder']} image) | container | native | ratio |",
            "|---|---|---|---|",
        ]
        out += [f"| {label} | {m['container'][k]} s | {m['native'][k]} s | {r[k]} |" for k, label in labels.items()]
        out.append("")
    stop = _bench("stop")
    if stop:
        m, r, n = stop["median_s"], stop["ratio_after_before"], stop["non_zero_exits"]
        labels = {
            "first_live_s": "first start to `/healthz` live",
            "restart_live_s": "restart to `/healthz` live",
            "first_stop_s": "`podman stop` after the first start",
            "restart_stop_s": "`podman stop` after a restart",
        }
        out += [
            f"| stop fix (median of {stop['runs']}, same image) | before (launcher re-spawn) | after | after/before |",
            "|---|---|---|---|",
        ]
        out += [f"| {label} | {m['before'][k]} s | {m['after'][k]} s | {r[k]} |" for k, label in labels.items()]
        stops = 2 * stop["runs"]
        out += [f"| non-zero exit codes | {n['before']} of {stops} | {n['after']} of {stops} | |", ""]
    vs = _bench("vs_official")
    if vs:
        out += vs_official_table(vs)
    levers = _bench("vs_official_levers")
    if levers:
        out += [
            "Levers, each on its own as an override on the image that run measured (`ours` there), in one "
            f"interleaved run (`vs_official_levers.json`, image `{levers['images']['ours']['image_id'][:19]}`):",
            "",
        ]
        out += lever_table(levers)
    if entry:
        out.append(
            f"Entrypoint before exec: {entry['overhead_ms']} ms over a bare `python3 -c pass` "
            f"(ratio {entry['ratio']}; goal < {entry['goal_overhead_ms']:.0f} ms).\n"
        )
    if size:
        mb = lambda n: f"{n / 1e6:.0f} MB"  # noqa: E731
        out += ["| layer | size | gzip |", "|---|---|---|"]
        out += [f"| {n} | {mb(s['bytes'])} | {mb(s['gzip_bytes'])} |" for n, s in size["layers"].items()]
        out += [
            f"| **total** | {mb(size['total']['bytes'])} | {mb(size['total']['gzip_bytes'])} |",
            "",
            f"Baseline (Debian minbase + node + `npm install openclaw`, built the same way): "
            f"{mb(size['baseline_node_npm_openclaw']['bytes'])}; toolchain {mb(size['toolchain']['bytes'])}, "
            f"plugins + app {mb(size['plugins_and_app']['bytes'])}; image / baseline = "
            f"{size['ratio_image_to_baseline']}. nix-openclaw closures as reported upstream "
            "(not built by this project): "
            + ", ".join(f"{k} ~{v} MB" for k, v in size["nix_reported_mb"].items())
            + ".",
        ]
        if "base_untrimmed" in size:
            out += [
                "",
                "Trimming what the Debian packages bring and nothing in the image uses (`dpkg_excludes_unused`: the "
                f"GPU/display stack ffmpeg pulls in, perl's C headers, X keyboard/locale data) takes "
                f"the base layer from {mb(size['base_untrimmed']['bytes'])} to {mb(size['layers']['base']['bytes'])} "
                f"(ratio {size['ratio_base_trimmed_to_untrimmed']}).",
            ]
        out.append("")
    largest = _bench("largest_paths")
    if largest:
        out += largest_paths_table(largest)
    shares = _bench("package_shares")
    if shares:
        out += package_shares_table(shares)
    if pipe:
        out += ["| doit build chain | seconds | ratio to clean build | what ran |", "|---|---|---|---|"]
        for case, r in pipe.items():
            change = r.get("image_change")
            extra = f"; image: {len(change['layers'])} layer(s), {change['bytes'] / 1e3:.0f} kB" if change else ""
            out.append(
                f"| {case.replace('_', ' ')} | {r['seconds']} | {r['ratio_to_clean']} | "
                f"{', '.join(r['ran']) or '(nothing)'}{extra} |"
            )
    return "\n".join(out).strip() or "Not measured yet: run `.venv/bin/nox -s bench`."


def largest_paths_table(report: dict) -> list[str]:
    """bench/largest_paths.py: the image's largest files and what each is for."""
    goal = "met" if report["within_goal"] else "not met"
    size, limit = report["image_bytes"] / 1e6, report["goal_bytes"] / 1e6
    out = [
        f"| the {len(report['largest'])} largest files ({report['builder']} image, {size:.0f} MB; "
        f"goal ≤ {limit:.0f} MB: {goal}) | size | layer | what it is for |",
        "|---|---|---|---|",
    ]
    out += [
        f"| `{row['path']}` | {row['bytes'] / 1e6:.1f} MB | {row['layer']} | {row['purpose'] or 'not described'} |"
        for row in report["largest"]
    ]
    return [*out, ""]


def package_shares_table(report: dict) -> list[str]:
    """bench/package_shares.py: the Debian packages each top-level package alone brings, in file bytes."""
    out = [
        f"| Debian package asked for ({report['builder']} image) | bytes it alone brings | packages "
        "| largest of them |",
        "|---|---|---|---|",
    ]
    for root, row in report["roots"].items():
        top = ", ".join(f"`{r['package']}` {r['bytes'] / 1e6:.1f} MB" for r in row["largest"][:3])
        name = "the base system" if root == BASE else f"`{root}`"
        out.append(f"| {name} | {row['bytes'] / 1e6:.1f} MB | {len(row['packages'])} | {top} |")
    shared = report["shared"]
    out += [
        f"| reached from two or more | {shared['bytes'] / 1e6:.1f} MB | {shared['packages']} | |",
        "",
        f"Files of Debian packages: {report['dpkg_bytes'] / 1e6:.0f} MB of the {report['image_bytes'] / 1e6:.0f} MB "
        "image. A package's share is what its Depends/Pre-Depends closure holds that no other package asked for "
        "(nor the base system) reaches, measured as the files present in the image (`bench/package_shares.py`); "
        "0 means every package it needs is needed by another too.",
        "",
    ]
    return out


def vs_official_table(vs: dict) -> list[str]:
    """bench/vs_official.py: our image against the official-style baseline, interleaved in one run."""
    ref = vs["reference"]
    ours = "ours" if "ours" in vs["sides"] else next(s for s in vs["sides"] if s != ref)
    med, spread, size = vs["median"], vs["spread"], vs["image_size_bytes"]
    load = vs["load_avg"]

    def cell(side: str, key: str, unit: str) -> str:
        low, high = spread[side][key]
        return f"{med[side][key]} {unit} ({low}–{high})"

    rows = {
        "first start to `/healthz` live": ("first_live_s", "s"),
        "restart to `/healthz` live": ("restart_live_s", "s"),
        "RSS of all container processes, 10 s after live": ("first_rss_mb", "MB"),
        "`podman stop`": ("first_stop_s", "s"),
    }
    rounds_load = load.get("rounds_1min") or [load["before"][0], load["after"][0]]
    out = [
        f"| vs official-style image (median of {vs['runs']}, min–max; 1-min load {min(rounds_load)}–"
        f"{max(rounds_load)} on {load['cpus']} cores) | ours | official-style | ratio |",
        "|---|---|---|---|",
    ]
    for label, (key, unit) in rows.items():
        ratio = round(med[ours][key] / med[ref][key], 2)
        out.append(f"| {label} | {cell(ours, key, unit)} | {cell(ref, key, unit)} | {ratio} |")
    out += [
        f"| image size (`podman image inspect`) | {size[ours] / 1e6:.0f} MB | {size[ref] / 1e6:.0f} MB | "
        f"{vs['ratio'][ours]['image size']} |",
        "",
        "Official-style = Debian minbase + ca-certificates + tini + curl, the same node, `npm install -g openclaw` "
        "and plugin layers, tini running the gateway directly, the same rendered config "
        f"(`bench/baseline.py`); {goals_line(vs)}",
        "",
    ]
    return out + lever_table(vs)


GOAL_NAMES = {
    "first_live": "first start",
    "restart_live": "restart",
    "rss": "RSS",
    "stop": "stop",
    "image_mb": "image (MB)",
}


def goals_line(vs: dict) -> str:
    """The goals of the run, each with our figure and whether it is met (older runs: the goals alone)."""
    met = vs.get("goals_met")
    if not met:
        return "goals: " + ", ".join(f"{k} ≤ {v}" for k, v in vs.get("goals", {}).items()) + "."
    return (
        "goals (ours / official-style, image in MB): "
        + "; ".join(
            f"{GOAL_NAMES.get(k, k)} {r['value']} ≤ {r['goal']} {'met' if r['met'] else '**not met**'}"
            for k, r in met.items()
        )
        + "."
    )


def lever_table(vs: dict) -> list[str]:
    """The lever sides of a vs_official run: each an override on our image, medians and ratios to the reference."""
    levers, ref, med, spread = vs.get("levers", {}), vs["reference"], vs["median"], vs["spread"]
    if not levers:
        return []
    keys = ("first_live_s", "restart_live_s", "first_rss_mb", "first_stop_s")
    load = vs["load_avg"].get("rounds_1min") or [vs["load_avg"]["before"][0], vs["load_avg"]["after"][0]]
    sides = [s for s in vs["sides"] if s not in levers]
    out = [
        f"| lever, same run (median of {vs['runs']}; 1-min load {min(load)}–{max(load)}) | first start | restart "
        f"| RSS (min–max) | stop | ratios to {ref} (start, restart, RSS, stop) |",
        "|---|---|---|---|---|---|",
    ]
    for side in [*(s for s in sides if s != ref), *levers]:
        m = med[side]
        what = levers.get(side, "the image as built" if side == "ours" else side)
        ratios = ", ".join(str(round(m[k] / med[ref][k], 2)) for k in keys)
        low, high = spread[side]["first_rss_mb"]
        out.append(
            f"| `{side}`: {what} | {m['first_live_s']} s | {m['restart_live_s']} s | {m['first_rss_mb']} MB "
            f"({low}–{high}) | {m['first_stop_s']} s | {ratios} |"
        )
    return [*out, ""]


RENDERERS = {
    "image": image,
    "volumes": volumes,
    "env": env,
    "allowlist": allowlist,
    "toolchain": toolchain,
    "performance": performance,
}


def pages() -> list[Path]:
    """Every page that may hold generated sections: the README and the docs/ pages."""
    return [README, *sorted(DOCS.glob("*.md"))]


def sections(text: str) -> list[str]:
    """Names of the generated sections in a page, in order."""
    return [m.group(2) for m in SECTION.finditer(text)]


def render_page(text: str, contract: Contract) -> str:
    def replace(m: re.Match[str]) -> str:
        return m.group(1) + RENDERERS[m.group(2)](contract) + "\n" + m.group(4)

    return SECTION.sub(replace, text)


def main() -> int:
    contract = Contract.load()
    for page in pages():
        text = page.read_text()
        new = render_page(text, contract)
        if new != text:
            page.write_text(new)
            print(f"updated {page.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
