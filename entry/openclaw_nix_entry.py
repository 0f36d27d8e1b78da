#!/usr/bin/env python3
"""openclaw-nix container entrypoint: seed /config, prepare /state, exec the command.

Runs at every container start, as any uid, stdlib only. In order:
  1. refuse an OpenClaw older than the one that last started on /state (its release is recorded there);
     check the environment: every required allowlisted variable is set (else stop, write nothing);
  2. render the template, and the operator overlay if one is mounted, in memory, substituting ${NAME}
     only for allowlisted names and only inside quoted string values (one anywhere else is refused;
     an overlay naming any other variable is refused);
  3. check /state and /logs are writable and create the /state sub-directories (mode 0700: they hold
     credentials; existing ones are left as they are);
  4. empty /config (never the mount itself) and write openclaw.json atomically, mode 0600; with an
     overlay, openclaw.json `$include`s the template then each overlay file (OpenClaw's own deep merge,
     later wins) and the pinned `openclaw config validate` must accept it, else /config is left empty;
  5. register the baked plugins as OpenClaw's managed npm installs (its plugin trust gate), on a fresh
     state with the integrity of the baked packages; record this image's OpenClaw release on /state;
  6. give a uid that has no passwd entry one, through nss_wrapper;
  7. exec the command (default: the gateway), so signals reach it directly; the gateway alone gets the
     switch of node's ES resolve fast path (image/esm-resolve-fastpath.cjs).
`--check` does 1-6 and prints what it did instead of exec'ing.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

PROG = "openclaw-nix"
# The same token grammar OpenClaw's config loader uses: `$${NAME}` is a literal, `${NAME}` expands.
TOKEN = re.compile(r"\$(\$?)\{([A-Z_][A-Z0-9_]*)\}")
EXPANDABLE = re.compile(r"\$(?=\{[A-Z_][A-Z0-9_]*\})")
INCLUDE = re.compile(r"""["']?\$include["']?\s*:""")
# JSON5 lexemes, to know where a placeholder stands: a string of either quote (a backslash escapes
# the next character, a line continuation included; no raw line break), a comment, a quote that opens
# a string never closed, or other text. Every character of a document falls in exactly one of them.
LEXEME = re.compile(
    r'"(?P<dq>(?:[^"\\\n\r]|\\(?:\r\n|[\s\S]))*)"'
    r"|'(?P<sq>(?:[^'\\\n\r]|\\(?:\r\n|[\s\S]))*)'"
    r"|(?P<comment>//[^\n\r\u2028\u2029]*|/\*[\s\S]*?(?:\*/|\Z))"
    r"|(?P<open>[\"'])"
    r"|[^\"'/]+|/"
)
KEY_FOLLOWS = re.compile(r"(?:[\s\ufeff]|//[^\n\r\u2028\u2029]*|/\*[\s\S]*?\*/)*:")  # after a string: a key
ESCAPE = re.compile(r"\\(?:x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|(\r\n|[\s\S]))")
SHORT_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "0": "\0"}
LINE_CONTINUATIONS = ("\n", "\r", "\r\n", "\u2028", "\u2029")
PLACEHOLDER_RULE = (
    'placeholders are substituted only inside a quoted string value (e.g. key: "{0}"): move it into '
    "one, or write ${0} for literal text"
)
EX_CONFIG = 78  # sysexits: configuration error, the user has to change something


class EntryError(Exception):
    """A problem the user must fix; the message says what and how."""


def find_file(explicit: str | None, *candidates: Path) -> Path:
    """Return the explicit path or the first candidate that exists (image layout, then repo)."""
    if explicit:
        return Path(explicit)
    for path in candidates:
        if path.is_file():
            return path
    raise EntryError(f"none of {', '.join(map(str, candidates))} exists; pass the path explicitly")


def load_contract(path: Path) -> dict:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def state_dirs(contract: dict) -> list[str]:
    """Every directory under the persistent /state volume the image env or config points at."""
    state = contract["volumes"]["state"]["path"].rstrip("/") + "/"
    paths = [contract["openclaw"]["workspace"]]
    for value in contract["env"].values():
        paths.extend(value.split(":"))
    return sorted({p for p in paths if p.startswith(state)})


def escape_for_openclaw(value: str, after: str = "") -> str:
    """Make OpenClaw's own ${NAME} expansion give back `value` unchanged when `after` follows it.

    Every `$` that starts a `${NAME}`, within the value or completed by what follows it, is doubled
    (`$${NAME}` is OpenClaw's literal): so a value can neither expand a variable nor turn the text
    after it into one.
    """
    doubled = {m.start() for m in EXPANDABLE.finditer(value + after) if m.start() < len(value)}
    return "".join("$$" if i in doubled else c for i, c in enumerate(value))


def value_from_file(name: str, env: dict[str, str]) -> str | None:
    """`NAME_FILE=/run/secrets/...`: the value is that file's content, minus one trailing newline.

    Podman secrets and Kubernetes Secret volumes are files; this is the usual image convention for
    them. Messages name the file, never its content.
    """
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    if env.get(name):
        raise EntryError(f"{name} and {name}_FILE are both set: set only one of them")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise EntryError(
            f"{name}_FILE={path}: cannot read it as uid {os.getuid()} ({err.strerror}); "
            f"mount the secret file there, readable by this uid (podman run --secret NAME,type=mount,uid=$(id -u))"
        ) from None
    except UnicodeDecodeError:  # the decoder's message quotes a byte of the secret: never shown
        raise EntryError(f"{name}_FILE={path}: the file is not UTF-8 text; write the value as UTF-8") from None
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def resolve_values(allowlist: list[dict], env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Values for every allowlisted name (from NAME or NAME_FILE), plus warnings; raises on a missing
    required one."""
    values, warnings = {}, []
    for item in allowlist:
        name = item["name"]
        from_file = value_from_file(name, env)
        value = env.get(name, "") if from_file is None else from_file
        if value:
            values[name] = value
        elif item.get("required"):
            raise EntryError(
                f"{name} is not set or empty: it is required ({item.get('help', 'see the README')}). "
                f"Set it with `podman run -e {name}=...`, a file named by {name}_FILE, or a Kubernetes Secret."
            )
        else:
            values[name] = item.get("default", "")
            if "default" not in item:
                warnings.append(f"{name} is not set; using an empty value ({item.get('help', '')})")
    return values, warnings


def decode_string(body: str) -> str:
    """The text of a JSON5 string literal (`body`: between the quotes), as OpenClaw will read it."""

    def one(match: re.Match[str]) -> str:
        hex_code, char = match.group(1) or match.group(2), match.group(3)
        if hex_code:
            return chr(int(hex_code, 16))
        if char in LINE_CONTINUATIONS:
            return ""
        if char in "123456789xu":
            raise ValueError(f"invalid escape \\{char}")
        return SHORT_ESCAPES.get(char, char)

    return ESCAPE.sub(one, body)


def encode_string(text: str, quote: str) -> str:
    """A JSON5 string literal in `quote` that reads back as exactly `text`."""
    short = {"\\": "\\\\", quote: "\\" + quote, "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    escape = re.compile(rf"[\\{quote}\x00-\x1f\x7f\u2028\u2029\ud800-\udfff]")
    return quote + escape.sub(lambda m: short.get(m.group(), f"\\u{ord(m.group()):04x}"), text) + quote


def expand(text: str, values: dict[str, str], refuse_unknown: str | None) -> str:
    """Substitute the allowlisted ${NAME} in one string's text so that OpenClaw's own expansion of the
    result gives back each value exactly; `$${NAME}` stays; any other ${NAME} becomes a literal, or,
    with `refuse_unknown` (where it was found), is refused."""
    parts: list[tuple[str, bool]] = []  # (text, is a value)
    done = 0
    for match in TOKEN.finditer(text):
        parts.append((text[done : match.start()], False))
        escaped, name = match.group(1), match.group(2)
        if escaped:
            parts.append((match.group(0), False))
        elif name in values:
            parts.append((values[name], True))
        elif refuse_unknown:
            raise EntryError(
                f"{refuse_unknown}: ${{{name}}} is not an allowlisted variable ({', '.join(sorted(values))}); "
                f"write $${{{name}}} for a literal, or let OpenClaw read the variable from the environment"
            )
        else:
            parts.append(("$" + match.group(0), False))  # not allowlisted: make OpenClaw keep it literal
        done = match.end()
    out = text[done:]
    for piece, is_value in reversed(parts):  # right to left: a value's escape depends on what follows
        out = (escape_for_openclaw(piece, out) if is_value else piece) + out
    return out


def render(text: str, values: dict[str, str], source: str = "the config", strict: bool = False) -> str:
    """Substitute allowlisted ${NAME} inside quoted JSON5 string values; refuse one anywhere else.

    Safe by construction rather than by escaping per context: a string that holds a placeholder is
    decoded, substituted, and written again as a string of the same quote kind with everything
    escaped that could end it, so no value can leave its string, whatever it contains or however the
    author quoted. In a comment, a key or bare text there is no escaping that keeps a value inert
    (`*/`, a line break or a `}` would end the comment or the token), so a placeholder there is
    refused, naming the line. `strict` (overlays) refuses a non-allowlisted name instead of keeping
    it literal. The structure outside those strings is left byte for byte as written.
    """

    def refuse(pos: int, problem: str) -> EntryError:
        return EntryError(f"{source} line {text.count(chr(10), 0, pos) + 1}: {problem}")

    out = []
    for lexeme in LEXEME.finditer(text):
        body = lexeme["dq"] if lexeme["dq"] is not None else lexeme["sq"]
        if lexeme["open"]:
            raise refuse(lexeme.start(), "a quoted string does not end on its line; close its quote")
        if body is None:  # a comment or bare text: any placeholder in it is refused
            for match in TOKEN.finditer(lexeme.group()):
                if not match.group(1):
                    kind = "in a comment" if lexeme["comment"] else "outside a quoted string"
                    rule = PLACEHOLDER_RULE.format(match.group())
                    raise refuse(lexeme.start() + match.start(), f"{match.group()} stands {kind}; {rule}")
            out.append(lexeme.group())
            continue
        try:
            decoded = decode_string(body)
        except ValueError as err:
            raise refuse(lexeme.start(), f"{err} in a quoted string") from None
        placeholder = next((m.group() for m in TOKEN.finditer(decoded) if not m.group(1)), None)
        if placeholder is None:
            out.append(lexeme.group())  # untouched, byte for byte
        elif KEY_FOLLOWS.match(text, lexeme.end()):
            raise refuse(lexeme.start(), f"{placeholder} stands in a key; {PLACEHOLDER_RULE.format(placeholder)}")
        else:
            out.append(encode_string(expand(decoded, values, source if strict else None), lexeme.group()[0]))
    return "".join(out)


def require_writable(path: Path, fix_hint: str) -> None:
    """Prove `path` is writable by creating and removing a file in it (os.access can lie)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise EntryError(
            f"{path} is not writable by uid {os.getuid()} gid {os.getgid()} ({err.strerror}). {fix_hint}"
        ) from None


def make_private_dirs(path: Path) -> None:
    """Create `path` and its missing parents mode 0700; directories that exist keep their mode.

    /state holds credentials (OpenClaw's state, HOME, tool configs) of the one uid the container runs as,
    so nobody else needs to read what the entrypoint creates there; a user's existing volume is not
    chmod-ed: its modes are the user's decision.
    """
    for directory in [*reversed(path.parents), path]:
        if not directory.is_dir():
            with contextlib.suppress(FileExistsError):  # another process made it meanwhile
                directory.mkdir(mode=0o700)


def empty_dir(path: Path) -> None:
    """Remove the contents of `path`, never `path` itself: it may be a mount point."""
    path.mkdir(parents=True, exist_ok=True)
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def write_atomically(path: Path, text: str) -> None:
    """Write to a 0600 temp file in the same directory, fsync, then rename over `path`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def overlay_files(mount: Path) -> list[Path]:
    """The overlay's *.json5 files: the mount itself if it is a file, else its visible *.json5 in name
    order (Kubernetes ConfigMap volumes add hidden `..data` entries: skipped)."""
    if mount.is_file():
        return [mount]
    if not mount.is_dir():
        return []
    return sorted(p for p in mount.iterdir() if p.suffix == ".json5" and not p.name.startswith(".") and p.is_file())


def render_overlay(path: Path, values: dict[str, str]) -> str:
    """Render one overlay file like the template, refusing what would surprise its author."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise EntryError(f"overlay {path}: cannot read it ({getattr(err, 'strerror', None) or err})") from None
    rendered = render(text, values, f"overlay {path}", strict=True)
    if INCLUDE.search(text):
        raise EntryError(
            f"overlay {path}: $include is not supported in an overlay; put each part in its own *.json5 "
            f"file of the overlay directory (they are merged in name order)"
        )
    return rendered


def run_openclaw(command: list[str], config: Path, env: dict[str, str]) -> tuple[int, dict]:
    """Run a pinned `openclaw config … --json` on `config`: (exit code, parsed JSON output or {})."""
    try:
        proc = subprocess.run(
            command, env={**env, "OPENCLAW_CONFIG_PATH": str(config)}, capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return 127, {"error": f"cannot run {command[0]!r} ({err})"}
    try:
        output = json.loads(proc.stdout)
    except json.JSONDecodeError:
        output = {"error": (proc.stderr or proc.stdout).strip()}
    return proc.returncode, output if isinstance(output, dict) else {}


def first_problem(report: dict) -> str:
    """One line out of `openclaw config validate --json`'s report."""
    issues = report.get("issues") or []
    if issues and isinstance(issues[0], dict):
        where = issues[0].get("path") or ""
        return f"{where + ': ' if where else ''}{issues[0].get('message', issues[0])}"
    detail = str(issues[0] if issues else report.get("error") or "no reason given").strip()
    return detail.splitlines()[-1] if detail else "no reason given"


def write_overlaid(config: Path, template: str, overlays: list[tuple[Path, str]], commands: dict, env: dict) -> None:
    """Write template + overlay files next to `config` and an openclaw.json that `$include`s them in order.

    The files are staged in a hidden directory of /config and moved in only once OpenClaw accepted
    them. OpenClaw reads `logging` (the log file on /logs) before it resolves includes, so the merged
    `logging` that OpenClaw itself reports is written beside the includes (a sibling key: same values).
    On a bad overlay the one to blame is found by validating each on top of the template alone.
    """
    stage = Path(tempfile.mkdtemp(prefix=".stage-", dir=config.parent))
    try:
        (stage / "overlay").mkdir()
        write_atomically(stage / "template.json5", template)
        names = []
        for index, (source, text) in enumerate(overlays):
            name = f"overlay/{index:02d}-{source.stem}.json5"
            write_atomically(stage / name, text)
            names.append(name)

        def include(selected: list[str], **siblings: object) -> str:
            return json.dumps({"$include": [f"./{n}" for n in ["template.json5", *selected]], **siblings}, indent=2)

        write_atomically(stage / config.name, include(names) + "\n")
        code, logging = run_openclaw(commands["config_logging"], stage / config.name, env)
        if code != 0 or "error" in logging:
            code, report = run_openclaw(commands["config_validate"], stage / config.name, env)
            if code == 0:  # valid, yet OpenClaw could not report its merged logging: say what it said
                problem = logging.get("error") or f"exit {code}"
                raise EntryError(
                    f"cannot read the merged logging settings with {commands['config_logging']}: {problem}"
                )
            blamed, problem = ", ".join(str(s) for s, _ in overlays), first_problem(report)
            for (source, _), name in zip(overlays, names, strict=True):
                write_atomically(stage / config.name, include([name]) + "\n")
                code, report = run_openclaw(commands["config_validate"], stage / config.name, env)
                if code != 0:
                    blamed, problem = str(source), first_problem(report)
                    break
            raise EntryError(f"overlay {blamed}: rejected by openclaw config validate: {problem}")
        write_atomically(stage / config.name, include(names, logging=logging) + "\n")
        for name in ["template.json5", "overlay", config.name]:  # openclaw.json last: complete when it appears
            os.replace(stage / name, config.parent / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def trust_baked_plugins(contract: dict, root: Path) -> list[str]:
    """Register each baked plugin as an install in OpenClaw's managed npm root ($OPENCLAW_STATE_DIR/npm).

    OpenClaw opens its keyed store (which the Matrix channel needs) only to bundled plugins or to an
    official package it has an install record for at the loaded path; plugins loaded from
    `plugins.load.paths` have none. OpenClaw recovers such records from its managed npm root:
    `package.json` dependencies whose `node_modules/<package>` resolves (after realpath) to the loaded
    root. So each start writes the dependency (version read from the plugin itself) and a symlink to
    the read-only root in the image: nothing is downloaded or copied, an image upgrade re-points it,
    and OPENCLAW_NIX_MODE keeps `openclaw plugins install` from touching it. Other entries are kept.
    Recovered records carry no integrity (OpenClaw's security audit warns): see record_integrity.
    """
    npm_root = root / contract["env"]["OPENCLAW_STATE_DIR"].lstrip("/") / "npm"
    manifest_path = npm_root / "package.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    if not isinstance(manifest, dict):
        manifest = {}
    if not isinstance(manifest.get("dependencies"), dict):
        manifest = {"name": "openclaw-managed-plugins", "private": True, **manifest, "dependencies": {}}
    registered, records = [], {}
    for plugin_id in contract["openclaw"]["plugins"]:
        image_root = f"{contract['image']['plugins_dir']}/{plugin_id}"
        try:
            package = json.loads((root / image_root.lstrip("/") / "package.json").read_text(encoding="utf-8"))
            name, version = package["name"], package["version"]
            link = npm_root / "node_modules" / name
            if link.exists() and not link.is_symlink():
                raise OSError(f"{link} is a real directory, not the baked plugin: left alone")
            if not (link.is_symlink() and os.readlink(link) == image_root):
                link.parent.mkdir(parents=True, exist_ok=True)
                tmp = link.with_name(f".{link.name}.{os.getpid()}")
                tmp.unlink(missing_ok=True)
                tmp.symlink_to(image_root)
                os.replace(tmp, link)
        except (OSError, ValueError, KeyError, TypeError) as err:
            # the gateway still loads the plugin; only OpenClaw's trust gate will refuse its keyed store
            print(f"{PROG}: warning: cannot register baked plugin {image_root} as trusted ({err})", file=sys.stderr)
            continue
        manifest["dependencies"][name] = version
        registered.append(f"{name}@{version}")
        integrity_file = root / (image_root + contract["image"]["plugin_integrity_suffix"]).lstrip("/")
        try:
            integrity = integrity_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            print(f"{PROG}: warning: no integrity for baked plugin {image_root} ({err})", file=sys.stderr)
            continue
        installed = f"{contract['env']['OPENCLAW_STATE_DIR']}/npm/node_modules/{name}"
        records[plugin_id] = {
            "source": "npm",
            "spec": f"{name}@{version}",
            "installPath": installed,
            "version": version,
            "resolvedName": name,
            "resolvedVersion": version,
            "resolvedSpec": f"{name}@{version}",
            "integrity": integrity,
        }
    if registered:
        try:
            write_atomically(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        except OSError as err:
            print(f"{PROG}: warning: cannot write {manifest_path} ({err})", file=sys.stderr)
    record_integrity(root / contract["env"]["OPENCLAW_STATE_DIR"].lstrip("/"), records)
    return registered


def record_integrity(state_dir: Path, records: dict[str, dict]) -> None:
    """Hand OpenClaw install records that carry the baked packages' integrity, once per state.

    OpenClaw 2026.6.11 keeps an install's integrity only in its install index (state SQLite); the records
    it recovers from the managed npm root never have one. The one way in that it reads is its legacy index
    file, plugins/installs.json, which OpenClaw imports into that index at its next start and renames to
    installs.json.migrated. So it is written only while neither exists: on a fresh state the records enter
    with their integrity; on an older state OpenClaw's own records win (it imports only plugins it has no
    record of) and the file is archived unused. The values are the same records OpenClaw recovers itself,
    plus `integrity`, which each builder bakes beside the plugin root from its pinned tarball hash.
    """
    legacy = state_dir / "plugins" / "installs.json"
    if not records or legacy.exists() or legacy.with_name(legacy.name + ".migrated").exists():
        return
    try:
        legacy.parent.mkdir(mode=0o700, exist_ok=True)
        write_atomically(legacy, json.dumps({"installRecords": records}, indent=2, sort_keys=True) + "\n")
    except OSError as err:
        print(f"{PROG}: warning: cannot write {legacy} ({err})", file=sys.stderr)


def release_key(version: str) -> tuple[int, ...]:
    """An OpenClaw version (2026.6.11, 2026.9.6-beta.1) as comparable numbers; a pre-release counts as its release."""
    return tuple(int(n) for n in re.findall(r"\d+", version.split("-")[0]))


def check_release(contract: dict, root: Path, env: dict[str, str]) -> str | None:
    """Refuse to start an OpenClaw older than the one recorded on /state (unless allowed); returns the
    recorded release (None on a state that has no record: fresh, or from before the record existed).

    OpenClaw migrates its state (session store, plugin index, channel sync state) forward as it starts and
    promises nothing about reading it back with an older release, which may misread or drop what it does
    not know. Whoever rolls back gets one line and exit 78 instead, telling them what to do.
    """
    spec = contract["state_record"]
    record = root / spec["file"].lstrip("/")
    try:
        recorded = record.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        print(f"{PROG}: warning: cannot read {spec['file']} ({err}); not checking for a downgrade", file=sys.stderr)
        return None
    mine = contract["openclaw"]["version"]
    if not recorded or not release_key(recorded) or release_key(recorded) <= release_key(mine):
        return recorded or None
    allow = spec["allow_downgrade_env"]
    if env.get(allow) == "1":
        warning = f"{allow}=1: starting OpenClaw {mine} on a /state last started by {recorded}"
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
        return recorded
    raise EntryError(
        f"/state was last started by OpenClaw {recorded}, this image has the older {mine}: OpenClaw moves its state "
        f"forward only. Run an image with OpenClaw {recorded} or newer, or restore the /state backup taken before "
        f"the upgrade (see docs/upgrades.md); to start {mine} on it anyway, set {allow}=1."
    )


def record_release(contract: dict, root: Path) -> None:
    """Write this image's OpenClaw release into the state record (a warning if /state refuses it)."""
    record = root / contract["state_record"]["file"].lstrip("/")
    try:
        make_private_dirs(record.parent)
        write_atomically(record, contract["openclaw"]["version"] + "\n")
    except OSError as err:
        print(f"{PROG}: warning: cannot record the OpenClaw release in {record} ({err})", file=sys.stderr)


def passwd_env(contract: dict, root: Path, env: dict[str, str]) -> dict[str, str]:
    """Env that gives a uid with no passwd entry one (nss_wrapper); {} when it has an entry.

    Kubernetes runs an image as any uid without adding it to /etc/passwd, and node's os.userInfo(),
    git and gemini-cli then fail. nss_wrapper (preloaded for the command and its children) serves a
    passwd/group copy with the uid added, written under a tmpfs: the root filesystem stays read-only.
    """
    uid, gid = os.getuid(), os.getgid()
    try:
        pwd.getpwuid(uid)
        return {}
    except KeyError:
        pass
    spec = contract["passwd"]
    library = root / spec["nss_wrapper"].lstrip("/")
    home = contract["env"]["HOME"]
    if not library.exists():
        print(f"{PROG}: warning: uid {uid} has no passwd entry and {library} is missing", file=sys.stderr)
        return {}
    files = root / spec["dir"].lstrip("/")
    try:
        files.mkdir(parents=True, exist_ok=True)
        passwd = Path("/etc/passwd").read_text(encoding="utf-8") if Path("/etc/passwd").exists() else ""
        group = Path("/etc/group").read_text(encoding="utf-8") if Path("/etc/group").exists() else ""
        passwd += f"{spec['user']}:x:{uid}:{gid}:{spec['user']}:{home}:/bin/sh\n"
        if not any(line.split(":")[2:3] == [str(gid)] for line in group.splitlines()):
            group += f"{spec['user']}:x:{gid}:\n"
        write_atomically(files / "passwd", passwd)
        write_atomically(files / "group", group)
        os.chmod(files / "passwd", 0o644)
        os.chmod(files / "group", 0o644)
    except OSError as err:
        print(f"{PROG}: warning: uid {uid} has no passwd entry and {files} is not writable ({err})", file=sys.stderr)
        return {}
    preload = " ".join(filter(None, [spec["nss_wrapper"], env.get("LD_PRELOAD", "")]))
    return {
        "LD_PRELOAD": preload,
        "NSS_WRAPPER_PASSWD": f"{spec['dir']}/passwd",
        "NSS_WRAPPER_GROUP": f"{spec['dir']}/group",
        "USER": env.get("USER") or spec["user"],
        "LOGNAME": env.get("LOGNAME") or spec["user"],
    }


def gateway_env(contract: dict, command: list[str]) -> dict[str, str]:
    """What only the gateway's own node gets: the switch of the ES resolve fast path (a NODE_OPTIONS preload
    that removes it from its env at once), never any other command's node (see contract esm_fastpath_env)."""
    is_gateway = Path(command[0]).name == "openclaw" and command[1:2] == ["gateway"]
    return {contract["image"]["esm_fastpath_env"]: "1"} if is_gateway else {}


def seed(contract: dict, template_path: Path, root: Path, env: dict[str, str]) -> Path:
    """Steps 1-5: returns the written config path (under `root`, which is / in the image)."""
    check_release(contract, root, env)  # first: a refused rollback prints its one line and nothing else
    values, warnings = resolve_values(contract["allowlist"], env)
    try:
        rendered = render(template_path.read_text(encoding="utf-8"), values, f"template {template_path}")
    except OSError as err:
        raise EntryError(f"cannot read the config template {template_path}: {err.strerror}") from None

    def inside(container_path: str) -> Path:
        return root / container_path.lstrip("/")

    overlays = [(f, render_overlay(f, values)) for f in overlay_files(inside(contract["volumes"]["overlay"]["path"]))]
    for warning in warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)

    fix = (
        "Mount a directory this uid owns: podman run --userns=keep-id --user $(id -u):$(id -g) "
        "-v DIR:{vol}, or on Kubernetes set securityContext.fsGroup."
    )
    for name in ("state", "logs"):
        vol = contract["volumes"][name]["path"]
        require_writable(inside(vol), fix.format(vol=vol))
    for directory in state_dirs(contract):
        try:
            make_private_dirs(inside(directory))
        except OSError as err:
            raise EntryError(
                f"cannot create {directory} as uid {os.getuid()} gid {os.getgid()} ({err.strerror}: {err.filename}). "
                + fix.format(vol=contract["volumes"]["state"]["path"])
            ) from None

    config = inside(contract["env"]["OPENCLAW_CONFIG_PATH"])
    require_writable(config.parent, fix.format(vol=contract["volumes"]["config"]["path"]))
    empty_dir(config.parent)
    if overlays:
        write_overlaid(config, rendered, overlays, contract["image"], env)
    else:
        write_atomically(config, rendered)
    trust_baked_plugins(contract, root)
    record_release(contract, root)
    return config


def main(argv: list[str]) -> int:
    args = list(argv)
    check = "--check" in args[:1]
    if check:
        args.pop(0)
    here = Path(__file__).resolve().parent
    try:
        contract_path = find_file(
            os.environ.get("OPENCLAW_NIX_CONTRACT"), here / "contract.toml", here.parent / "image" / "contract.toml"
        )
        contract = load_contract(contract_path)
        template_name = contract["openclaw"]["config_template"]
        template = find_file(
            os.environ.get("OPENCLAW_NIX_TEMPLATE"), here / template_name, here.parent / "template" / template_name
        )
        root = Path(os.environ.get("OPENCLAW_NIX_ROOT", "/"))
        # first: the overlay check runs openclaw too, and it should see the same user as the gateway
        os.environ.update(passwd_env(contract, root, dict(os.environ)))
        config = seed(contract, template, root, dict(os.environ))
    except EntryError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EX_CONFIG
    command = args or contract["image"]["cmd"]
    os.environ.update(gateway_env(contract, command))
    if check:
        print(f"{PROG}: seeded {config}; would exec: {' '.join(command)}")
        return 0
    try:
        os.execvp(command[0], command)
    except OSError as err:
        print(
            f"{PROG}: error: cannot run {command[0]!r}: {err.strerror}. Is it on PATH ({os.environ.get('PATH')})?",
            file=sys.stderr,
        )
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
