"""Pure domain modules import only the standard library (CONVENTIONS.md 3)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import casework

PACKAGE = Path(casework.__file__).parent
PURE_MODULES = [
    "audit/chain.py",
    "audit/actions.py",
    "accounts/roles.py",
    "intake/reference.py",
    "intake/validation.py",
    "eligibility/outcomes.py",
    "eligibility/cirv.py",
    "trial/sequence.py",
    "trial/strata.py",
    "pathways/states.py",
    "notes/reference.py",
    "eligibility/offences.py",
    "eligibility/checkpoint.py",
    "eligibility/outcome22.py",
    "diversion/states.py",
    "extracts/privacy.py",
    "extracts/consort.py",
    "dates.py",
    "words.py",
]
# A pure module may import another pure module, and nothing else of casework;
# of libraries, only the standard library and these, which are pure too
# (dateutil for calendar months).
PURE_LIBRARIES = {"__future__", "dateutil"}
PURE_IMPORTS = {"casework." + m.removesuffix(".py").replace("/", ".") for m in PURE_MODULES}


@pytest.mark.parametrize("relative", PURE_MODULES)
def test_pure_module_imports_only_pure_libraries(relative):
    tree = ast.parse((PACKAGE / relative).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif (isinstance(node, ast.ImportFrom) and node.level == 0
              and node.module not in PURE_IMPORTS):
            imported.add(node.module.split(".")[0])
    outside = {name for name in imported if name not in sys.stdlib_module_names}
    assert outside <= PURE_LIBRARIES, f"{relative} imports {sorted(outside)}"


def test_audit_actions_follow_the_grammar():
    from casework.audit.actions import GRAMMAR, Action

    assert all(GRAMMAR.match(action.value) for action in Action)
