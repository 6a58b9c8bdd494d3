"""The kernel contract (tests/lint/contracts.py): every module but the exempt ones, also new ones, on its own imports."""
import textwrap

import grimp
import pytest

from tests.lint.contracts import ForbiddenExceptContract


def _tree(root, files: dict[str, str]) -> None:
    for path, source in files.items():
        file = root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(textwrap.dedent(source))


@pytest.fixture
def check(tmp_path, monkeypatch):
    """Lay out a kernel package `kern_t` and an app `app_t`, and check the contract on them."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def run(kernel_files: dict[str, str], exempt=("kern_t.urls",)):
        _tree(tmp_path, {"app_t/__init__.py": "", "app_t/models.py": "", "kern_t/__init__.py": "", "kern_t/urls.py": ""})
        _tree(tmp_path, {f"kern_t/{path}": source for path, source in kernel_files.items()})
        graph = grimp.build_graph("kern_t", "app_t", cache_dir=None)
        contract = ForbiddenExceptContract(
            name="the kernel imports no app",
            session_options={"root_packages": ["kern_t", "app_t"]},
            contract_options={
                "source_packages": ["kern_t"],
                "exempt_modules": list(exempt),
                "forbidden_packages": ["app_t"],
            },
        )
        result = contract.check(graph, verbose=False)
        return result.kept, [(v["source"], v["forbidden"]) for v in result.metadata["violations"]]

    return run


def test_a_module_added_anywhere_in_the_kernel_is_covered(check):
    kept, violations = check({"deep/__init__.py": "", "deep/new.py": "from app_t import models\n"})

    assert not kept
    assert violations == [("kern_t.deep.new", "app_t")]


def test_the_exempt_project_files_may_import_apps(check):
    kept, violations = check({"urls.py": "import app_t.models\n", "money.py": "import os\n"})

    assert kept and violations == []


def test_importing_an_exempt_file_that_imports_an_app_breaks_the_contract(check):
    kept, violations = check({"urls.py": "import app_t.models\n", "money.py": "from kern_t import urls\n"})

    assert not kept
    assert violations == [("kern_t.money", "app_t")]


def test_only_the_module_that_leaves_the_kernel_is_reported_not_its_importers(check):
    kept, violations = check({"sql.py": "import app_t\n", "ledger.py": "from kern_t import sql\n"})

    assert not kept
    assert violations == [("kern_t.sql", "app_t")]


def test_a_misspelt_exempt_module_is_an_error_not_a_silent_pass(check):
    with pytest.raises(ValueError, match="kern_t.wsgi"):
        check({"money.py": ""}, exempt=("kern_t.wsgi",))
