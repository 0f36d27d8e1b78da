"""QA holds for any valid template: the smoke tier's config checks against templates a user could write.

harness/template_variants.py rewrites the shipped template as a user might (comments anywhere, also on
the last line; keys reordered; single-quoted strings; trailing commas; CRLF; an added channel setting;
an allowlisted ${VAR} used at an added place). Each variant is mounted read-only over the image's
template, which is exactly what rebuilding the image with it would give (the app layer copies the file
verbatim), without a rebuild per variant.

Which smoke checks, and why: T4's two (re-seeded every start; substitution allowlist) on every variant,
because they are the ones that read the seeded config; T7's offline start (gateway live, both plugins
loaded) on the variant that has every feature at once, because it proves the gateway takes such a file
(tests/test_template_variants.py has the pinned OpenClaw validate it, too). T2, T5 and T6 never read the
config; T7's port check and T8's runbook assert only on /healthz and the plugin list, which the offline
start covers.
"""

from __future__ import annotations

import pytest

from harness.config_checks import config_reseeded, offline_start_plugins_loaded, substitution_allowlist
from harness.template import Template
from harness.template_variants import VARIANTS, variant

pytestmark = pytest.mark.container
EVERYTHING = "all-at-once"


@pytest.fixture(params=sorted(VARIANTS))
def template(request, qa_user, contract) -> Template:
    """A variant of the shipped template, in a file the QA user owns, mounted over the image's template."""
    data = variant(request.param, contract.template_path.read_text(encoding="utf-8"))
    folder = qa_user.home / "qa-volumes" / "template-variants"
    qa_user.mkdirs(folder)
    path = qa_user.write_file(folder / f"{request.param}.json5", data)
    in_image = f"{contract.app_dir}/{contract.template_path.name}"
    return Template(request.param, data, ["-v", f"{path}:{in_image}:ro"])


def test_template_variant_config_reseeded(runner, volumes, scenario, template):
    """T4 on a template a user could write: /config/openclaw.json re-seeded at every start, edits gone."""
    config_reseeded(runner, volumes, scenario, template)


def test_template_variant_substitution_allowlist(runner, volumes, contract, scenario, template):
    """T4 on a template a user could write: allowlisted variables substituted, any other never reaches it."""
    substitution_allowlist(runner, volumes, scenario, template, contract)


@pytest.mark.parametrize("template", [EVERYTHING], indirect=True)
def test_template_variant_offline_start(runner, volumes, contract, scenario, template):
    """T7 on a template with every variation at once: gateway live offline, matrix + whatsapp loaded."""
    scenario.fact("template_variant", template.name)
    offline_start_plugins_loaded(runner, volumes, contract, scenario, "qa-variant-offline")
