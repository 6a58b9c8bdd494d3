"""The apps contract (tests/lint/contracts.py): apps import each other only through services and selectors."""
import textwrap

import grimp
import pytest

from tests.lint.contracts import PublicSurfaceContract

APP_A = {
    "app_a/__init__.py": "",
    "app_a/models.py": "",
    "app_a/services/__init__.py": "",
    "app_a/services/orders.py": "from app_a import models\n",
    "app_a/selectors.py": "from app_a import models\n",
    "app_a/wallet/__init__.py": "",
    "app_a/wallet/rpc.py": "",
    "app_a/wallet/services.py": "from app_a.wallet import rpc\n",
}


@pytest.fixture
def check(tmp_path, monkeypatch):
    """Lay out two apps and a kernel, then check the contract on them."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def run(app_b_files: dict[str, str]):
        files = {**APP_A, "kern_p/__init__.py": "", "kern_p/money.py": "", "app_b/__init__.py": ""}
        files.update({f"app_b/{path}": source for path, source in app_b_files.items()})
        for path, source in files.items():
            file = tmp_path / path
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(textwrap.dedent(source))
        graph = grimp.build_graph("app_a", "app_b", "kern_p", cache_dir=None)
        contract = PublicSurfaceContract(
            name="apps import each other only through services and selectors",
            session_options={"root_packages": ["app_a", "app_b", "kern_p"]},
            contract_options={"apps": ["app_a", "app_b"], "public_names": ["services", "selectors"]},
        )
        result = contract.check(graph, verbose=False)
        return result.kept, [(v["importer"], v["imported"]) for v in result.metadata["violations"]]

    return run


def test_services_and_selectors_of_another_app_at_any_depth_are_allowed(check):
    kept, violations = check({
        "handlers.py": """
            from app_a.selectors import thing
            from app_a.services.orders import order_create
            from app_a.wallet.services import send
            from app_a import services
            import kern_p.money
        """,
    })

    assert kept and violations == []


@pytest.mark.parametrize(
    "source, imported",
    [
        ("from app_a.models import Order\n", "app_a.models"),
        ("from app_a.wallet.rpc import Client\n", "app_a.wallet.rpc"),
        ("from app_a import wallet\n", "app_a.wallet"),
        ("import app_a\n", "app_a"),
    ],
)
def test_any_other_module_of_another_app_breaks_the_contract(check, source, imported):
    kept, violations = check({"deep/__init__.py": "", "deep/module.py": source})

    assert not kept
    assert violations == [("app_b.deep.module", imported)]


def test_an_app_uses_its_own_internals_and_reaching_them_indirectly_is_fine(check):
    # app_b's services may use app_b's models; app_b reaches app_a.rpc only through app_a's services
    kept, violations = check({
        "models.py": "",
        "services.py": "from app_b import models\nfrom app_a.wallet.services import send\n",
    })

    assert kept and violations == []
