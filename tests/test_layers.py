"""The package's layers only point down, and no modules import each other in a circle.

Layers, bottom first: a module may import its own layer and the layers below. Every import
statement counts (module level, inside a function, under TYPE_CHECKING), read by the same parser
that finds a stage's code deps (core.codeversion.package_imports)."""

from __future__ import annotations

from pathlib import Path

from cooperbench.generation.core.codeversion import PACKAGE, SRC, package_imports

LAYERS = (  # bottom first
    ("ground floor: errors, helpers, records and their places, settings, the sandbox contract",
     ("errors", "util", "core", "schemas")),
    ("patches", ("patches",)),
    ("tasks", ("tasks",)),
    ("sandboxes", ("sandbox",)),
    ("grading: test runs and their outcomes", ("grading",)),
    ("conflicts", ("conflicts",)),
    ("validation: verdicts on candidates and on the dataset's features", ("validation",)),
    ("agents", ("agent",)),
    ("onboarding", ("onboard",)),
    ("pipeline: stage bodies that write files", ("pipeline",)),
    ("entry points", ("api", "cli", "__main__", "")),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The index of the layer whose packages hold `module` (a name below PACKAGE)."""
    inner = module.removeprefix(PACKAGE).lstrip(".")
    for index, (_, packages) in enumerate(LAYERS):
        if any(inner == p or (p and inner.startswith(p + ".")) for p in packages):
            return index
    raise AssertionError(f"{module}: in no layer of tests/test_layers.py; give it one")


def graph() -> dict[str, set[str]]:
    modules = {}
    for path in sorted((SRC / PACKAGE.replace(".", "/")).rglob("*.py")):
        if "support" in path.relative_to(SRC).parts:  # files copied into sandboxes, not imported
            continue
        modules[module_name(path)] = package_imports(path)[0]
    return modules


def test_every_import_points_down_or_sideways():
    climbs = [f"{source} (layer {layer_of(source)}) imports {target} (layer {layer_of(target)}: {LAYERS[layer_of(target)][0]})"
              for source, targets in graph().items() for target in sorted(targets) if layer_of(target) > layer_of(source)]
    assert not climbs, "imports that climb a layer:\n" + "\n".join(climbs)


def test_no_import_cycle():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if target == module:
                continue
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]) if target in path else f"{module} -> {target}")
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_check_sees_a_climb_and_a_cycle(tmp_path):
    """The two checks are not vacuous: the parser finds function-level imports, and the layers
    place every module."""
    script = tmp_path / "m.py"
    script.write_text("def f():\n    from cooperbench.generation.cli import main\n", encoding="utf-8")
    assert package_imports(script)[0] == {"cooperbench.generation.cli"}
    assert layer_of("cooperbench.generation.cli") > layer_of("cooperbench.generation.grading.testrun")
    assert all(layer_of(module) >= 0 for module in graph())


def test_domain_packages_never_see_an_attempts_folders():
    """Only the pipeline (and what stands on it) knows where an attempt's files live."""
    layout = f"{PACKAGE}.core.layout"
    seeing = sorted(m for m, targets in graph().items() if layout in targets
                    and layer_of(m) < layer_of(f"{PACKAGE}.pipeline") and not m.startswith(f"{PACKAGE}.core"))
    assert not seeing, f"modules below the pipeline that read attempt folders: {seeing}"


def test_each_settings_object_has_one_constructor():
    """ValidationSettings are made by `ValidationSettings.of` alone (params.yaml, then what a flag
    or a caller gives), so no command assembles them its own way."""
    package = SRC / PACKAGE.replace(".", "/")
    makers = sorted(str(path.relative_to(SRC)) for path in package.rglob("*.py")
                    if "ValidationSettings(" in path.read_text(encoding="utf-8") and path.name != "schemas.py")
    assert not makers, f"ValidationSettings built outside ValidationSettings.of: {makers}"


def test_library_code_never_changes_the_process_environment():
    """Only an entry point prepares os.environ, once, as it starts (util/environment.py);
    settings are passed, never set globally."""
    import re

    changes = re.compile(r"os\.environ\[[^\]]+\]\s*=|os\.environ\.(setdefault|update|pop|clear)\(|del os\.environ|os\.putenv")
    package = SRC / PACKAGE.replace(".", "/")
    found = sorted(f"{path.relative_to(SRC)}:{n}" for path in package.rglob("*.py")
                   if "support" not in path.parts and path.name != "environment.py"
                   for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if changes.search(line))
    assert not found, f"os.environ changed outside util/environment.py: {found}"
