"""The import-linter contract that checks the layers (pyproject.toml, docs/architecture.md).

import-linter's own `layers` contract only loosens when a layer is deleted from its list:
the package it named may then import anything, and the check still passes. This one also
fails when a package of the project belongs to no layer, so the layers cannot erode by
deletion either.
"""

from __future__ import annotations

import grimp
from importlinter.application import output
from importlinter.contracts.layers import LayersContract
from importlinter.domain.contract import ContractCheck


class CompleteLayersContract(LayersContract):
    """`layers`, and every package is in one. A root package is a layer or holds layers;
    one that holds layers has each of its sub-packages in a layer (its plain modules are the
    top floor: settings, URLs, the Celery app), but for those in `exhaustive_ignores`."""

    def _get_undeclared_modules(self, graph: grimp.ImportGraph, containers: set[str]) -> set[str]:
        declared = {module_tail.name for module_tail in self.all_module_tails}
        # A field on the class, the parsed set on the instance.
        ignored: set[str] = set(self.exhaustive_ignores or ())  # type: ignore[arg-type]
        undeclared = set()
        for root in sorted(module for module in graph.modules if "." not in module):
            if root in declared | ignored:
                continue
            if not any(name.startswith(f"{root}.") for name in declared):
                undeclared.add(root)
                continue
            for child in graph.find_children(root):
                if graph.find_children(child) and child not in declared | ignored:
                    undeclared.add(child)
        return undeclared

    def render_broken_contract(self, check: ContractCheck) -> None:
        undeclared = check.metadata["undeclared_modules"]
        check.metadata["undeclared_modules"] = set()
        super().render_broken_contract(check)
        check.metadata["undeclared_modules"] = undeclared
        if undeclared:
            output.print("These packages are in no layer; each must be in one:")
            output.new_line()
            for module in sorted(undeclared):
                output.print_error(f"- {module}", bold=False)
            output.new_line()
