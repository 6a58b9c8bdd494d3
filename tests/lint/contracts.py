"""Import-linter contract types of our own, registered in pyproject.toml (`contract_types`).

The built-in forbidden contract takes a source package as a whole, so it cannot cover every module
of `flashpay` while leaving out the Django project files (settings, urls, wsgi, asgi) that are
allowed to name the apps. This one can, and a module added to the package later is covered
without touching the configuration.
"""
from __future__ import annotations

from importlinter import Contract, ContractCheck, fields, output


class ForbiddenExceptContract(Contract):
    """Every module of the source packages, except the exempt ones, imports none of the forbidden
    packages, directly or through other modules (also through an exempt one).

    Options:
        source_packages:    packages whose every module is checked on its own imports.
        exempt_modules:     modules of those packages that are not checked (not their children).
        forbidden_packages: packages none of whose modules may be imported.
    """

    type_name = "forbidden_except"

    source_packages = fields.ListField(subfield=fields.ModuleField())
    exempt_modules = fields.ListField(subfield=fields.ModuleField(), required=False)
    forbidden_packages = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        named = [*self.source_packages, *(self.exempt_modules or []), *self.forbidden_packages]
        missing = sorted(module.name for module in named if module.name not in graph.modules)
        if missing:
            raise ValueError(f"Modules not found: {', '.join(missing)}.")

        exempt = {module.name for module in self.exempt_modules or []}
        sources = sorted(
            name
            for package in self.source_packages
            for name in {package.name, *graph.find_descendants(package.name)}
            if name not in exempt
        )
        checked = set(sources)
        violations = []
        for source in sources:
            # The module's own imports, followed through every module they import in turn.
            upstream = graph.find_upstream_modules(source)
            for forbidden in sorted(module.name for module in self.forbidden_packages):
                reached = sorted(
                    name for name in upstream if name == forbidden or name.startswith(forbidden + ".")
                )
                if not reached:
                    continue
                chains = [graph.find_shortest_chain(importer=source, imported=name) for name in reached]
                chain = min(chains, key=len)
                if chain[1] in checked:
                    # It goes through another checked module, which is reported itself: the
                    # report names the modules to fix, not every module that imports them.
                    continue
                violations.append(
                    {
                        "source": source,
                        "forbidden": forbidden,
                        "links": [
                            {
                                "importer": importer,
                                "imported": imported,
                                "lines": [
                                    detail["line_number"]
                                    for detail in graph.get_import_details(
                                        importer=importer, imported=imported
                                    )
                                ],
                            }
                            for importer, imported in zip(chain, chain[1:], strict=False)
                        ],
                    }
                )
            output.verbose_print(verbose, f"Checked {source}.")
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for violation in check.metadata["violations"]:
            output.print_error(f"{violation['source']} is not allowed to import {violation['forbidden']}:")
            output.new_line()
            for position, link in enumerate(violation["links"]):
                lines = ", ".join(f"l.{number}" for number in link["lines"] if number is not None)
                text = f"{link['importer']} -> {link['imported']} ({lines or 'l.?'})"
                if position == 0:
                    output.print_error(f"-   {text}", bold=False)
                else:
                    output.indent_cursor()
                    output.print_error(text, bold=False)
            output.new_line()


class PublicSurfaceContract(Contract):
    """Apps import each other only through their public modules: a module of one app may import a
    module of another app only if that module's name has a public part (``services``,
    ``selectors``) below the app, e.g. ``invoices.selectors``, ``invoices.services.invoices``,
    ``invoices.onchain.services``; never ``invoices.models`` or ``invoices.onchain.rpc``. Direct
    imports are what count: a public module may use its own app's internals.

    Options:
        apps:         the app packages held to this (each may import itself freely).
        public_names: the module names that make a module public (default services, selectors).
    """

    type_name = "public_surface"

    apps = fields.ListField(subfield=fields.ModuleField())
    public_names = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph, verbose: bool) -> ContractCheck:
        apps = sorted(module.name for module in self.apps)
        missing = [app for app in apps if app not in graph.modules]
        if missing:
            raise ValueError(f"Modules not found: {', '.join(missing)}.")
        public = set(self.public_names or ("services", "selectors"))

        def app_of(name: str) -> str | None:
            root = name.split(".", 1)[0]
            return root if root in apps else None

        violations = []
        for app in apps:
            for importer in sorted({app, *graph.find_descendants(app)}):
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    owner = app_of(imported)
                    if owner is None or owner == app:
                        continue
                    if public & set(imported.split(".")[1:]):
                        continue
                    lines = [
                        detail["line_number"]
                        for detail in graph.get_import_details(importer=importer, imported=imported)
                    ]
                    violations.append({"importer": importer, "imported": imported, "lines": lines})
            output.verbose_print(verbose, f"Checked {app}.")
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for violation in check.metadata["violations"]:
            lines = ", ".join(f"l.{number}" for number in violation["lines"] if number is not None)
            output.print_error(
                f"{violation['importer']} -> {violation['imported']} ({lines or 'l.?'}): "
                "not a services or selectors module of its app",
                bold=False,
            )
            output.new_line()
