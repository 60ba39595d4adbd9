"""The README's layout section names every module of the package, and only those."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_layout_matches_the_tree():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(?:mcflow/)?(\w+\.py)`", section))
    on_disk = {path.name for path in (ROOT / "mcflow").glob("*.py")}
    assert named == on_disk, {"missing from README": sorted(on_disk - named),
                              "not in mcflow/": sorted(named - on_disk)}


#: The layers of the README's layout, bottom first: a module may import its own layer or lower.
LAYERS = (
    {"_numba", "_checks", "_version", "_seeds", "_files"},
    {"_rng", "_binning", "_bin_block", "_maths", "_ops_normal", "_ops_table", "_ops", "_kernels",
     "_user_code", "transform", "_chunks", "counts", "engine", "distributed", "_nd_stream"},
    {"transforms", "density", "registry", "case", "_adapt", "_torch_adapter", "_jax_adapter",
     "_nd_case", "_nd_torch", "_nd_jax"},
    {"_row_statistics", "_binomial", "_multinomial", "_prewarm", "statistics", "null_distribution",
     "sensitivity", "_gauss_kronrod", "quadrature", "edges", "_nd_jacobian"},
    {"_float_support", "expected", "nulls", "layers", "result", "cdf_claim", "assessment",
     "validation", "_jacobian_pattern", "_nd_layers", "_nd_regions", "_nd_proposal",
     "_nd_histogram", "_nd_passes"},
    {"figures", "reporting", "_bench_output", "_nd_figures", "_figure_style", "_figure_cells",
     "_document"},
    {"cli", "_cli_options", "_cli_run", "_gate_outputs", "_compare", "_auto_n", "_keyword",
     "specs", "config", "check", "__main__", "testing", "pytest_plugin", "bench", "__init__", "nd"},
)


def _imports() -> dict[str, set[str]]:
    """Every mcflow module each module imports, lazily or under TYPE_CHECKING included."""
    graph = {}
    for path in (ROOT / "mcflow").glob("*.py"):
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module is not None and module.startswith("mcflow"):
                names = ([alias.name for alias in node.names] if module == "mcflow"
                         else [module.removeprefix("mcflow.")])
                targets |= {name if (ROOT / "mcflow" / f"{name}.py").exists() else "__init__"
                            for name in names}
            elif isinstance(node, ast.Import):
                targets |= {alias.name.removeprefix("mcflow.") for alias in node.names
                            if alias.name.startswith("mcflow.")}
        graph[path.stem] = targets - {path.stem}
    return graph


def test_nothing_imports_upwards_so_there_are_no_cycles():
    layer = {module: index for index, modules in enumerate(LAYERS) for module in modules}
    graph = _imports()
    assert set(graph) == set(layer)
    upwards = sorted(f"{module} -> {target}" for module, targets in graph.items()
                     for target in targets if layer[target] > layer[module])
    assert upwards == []


def test_no_import_cycles_within_a_layer():
    graph = _imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            assert state.get(target) != 1, " -> ".join([*path, module, target])
            if target not in state:
                visit(target, [*path, module])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
