"""The conda environments of envs/ (for --sdm conda), checked without building them (no conda channels here).

Each environment must parse, ask for the same major versions as pyproject.toml, and list every third-party
module that the scripts of its rules import, directly or through the scopecal modules they import.
"""

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
ENVS = sorted((ROOT / "envs").glob("*.yaml"))
# import name -> package name where they differ (conda-forge names; pip names for the pip-only packages)
MODULE_PACKAGES = {
    "arc_scope": "arcope",
    "scope": "scope-rtm",
    "torch": "pytorch",
    "yaml": "pyyaml",
    "osgeo": "gdal",
    "sklearn": "scikit-learn",
    "PIL": "pillow",
    "dfols": "dfo-ls",
    "pyro": "pyro-ppl",
}
PIP_TO_CONDA = {"torch": "pytorch"}


def normalize(name):
    name = re.sub(r"[-_.]+", "-", name).lower()
    return PIP_TO_CONDA.get(name, name)


def conda_spec(text):
    """A conda match spec such as `numpy>=1.26,<3` or `python=3.11` (= 3.11.*) as a name and a SpecifierSet."""
    name, spec = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", text).groups()
    spec = re.sub(r"^=([^=].*)$", r"==\1.*", spec.replace(" ", ""))
    return normalize(name), SpecifierSet(spec)


def environment(path):
    """{package: SpecifierSet} of a conda environment file, its pip section included, and its local pip paths."""
    document = yaml.safe_load(path.read_text())
    packages, local_paths = {}, []
    for entry in document["dependencies"]:
        if isinstance(entry, dict):
            for line in entry["pip"]:
                if line.startswith("git+"):  # a package from its repository, named after it
                    packages[normalize(line.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))] = SpecifierSet()
                elif line.startswith((".", "/", "-e")):
                    local_paths.append(line.removeprefix("-e").strip())
                else:
                    requirement = Requirement(line)
                    packages[normalize(requirement.name)] = requirement.specifier
        else:
            name, spec = conda_spec(entry)
            packages[name] = spec
    return document, packages, local_paths


def project_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [line for group in project["optional-dependencies"].values() for line in group]
    return {normalize(Requirement(line).name): Requirement(line).specifier for line in lines}


def majors(spec, top):
    """The major versions below ``top`` that ``spec`` allows some version of."""
    bounds = [Version(s.version.removesuffix(".*")) for s in spec]
    allowed = set()
    for major in range(top):
        probes = [Version(f"{major}"), Version(f"{major}.999999"), *(b for b in bounds if b.major == major)]
        if any(probe in spec for probe in probes):
            allowed.add(major)
    return allowed


def rule_environments():
    """(rule, conda env file, script) for every rule in workflow/rules/ that runs a script."""
    found = []
    for smk in sorted((ROOT / "workflow/rules").glob("*.smk")):
        for rule, body in re.findall(r"^\s*rule (\w+):\n(.*?)(?=^\s*rule \w+:|\Z)", smk.read_text(), re.M | re.S):
            script = re.search(r"^\s*script:\s*\n\s*\"([^\"]+)\"", body, re.M)
            if script:
                conda = re.search(r"^\s*conda:\s*\n\s*\"([^\"]+)\"", body, re.M)
                assert conda, f"rule {rule} ({smk.name}) runs a script but names no conda environment"
                found.append((rule, (smk.parent / conda.group(1)).resolve(), (smk.parent / script.group(1)).resolve()))
    return found


def module_file(module):
    """The source file of a scopecal module, or None where ``module`` is not one (an attribute, say)."""
    path = SRC.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports(path, module=None):
    """Absolute names of what a file imports anywhere in it (function-level imports too)."""
    package = module if path.name == "__init__.py" else (module or "").rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative, inside scopecal
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from package import module`
    return names


def third_party_imports(script):
    """Top-level third-party modules a script imports, following the scopecal modules it imports."""
    todo, seen, found = [(script, None)], set(), set()
    while todo:
        path, module = todo.pop()
        for name in imports(path, module):
            top = name.split(".")[0]
            if top == "scopecal":
                parts = name.split(".")
                for i in range(1, len(parts) + 1):  # a package's __init__ runs before its modules
                    submodule = ".".join(parts[:i])
                    source = module_file(submodule)
                    if source and submodule not in seen:
                        seen.add(submodule)
                        todo.append((source, submodule))
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                found.add(top)
    return found


@pytest.mark.parametrize("path", ENVS, ids=lambda path: path.name)
def test_environment_parses_and_pins_the_project_majors(path):
    document, packages, local_paths = environment(path)
    assert document["channels"] and "python" in packages
    required = project_requirements()
    for name in sorted(packages.keys() & required.keys()):
        top = 2 + max(Version(s.version.removesuffix(".*")).major for s in [*packages[name], *required[name]])
        assert majors(packages[name], top) == majors(required[name], top), (
            f"{path.name}: {name}{packages[name]} allows other major versions than pyproject.toml's {required[name]}"
        )
    # Snakemake copies the file to .snakemake/conda/ before `conda env create`, and conda runs pip there
    for local in local_paths:
        assert (ROOT / ".snakemake/conda" / local).resolve() == ROOT, f"{path.name}: pip path {local} is not here"


def test_every_rule_environment_lists_what_its_script_imports():
    rules = rule_environments()
    assert {"forward", "inputs", "retrieval"} <= {rule for rule, _, _ in rules}
    missing = []
    for rule, env, script in rules:
        _, packages, _ = environment(env)
        needed = {normalize(MODULE_PACKAGES.get(module, module)) for module in third_party_imports(script)}
        missing += [f"rule {rule}: {env.name} lacks {name}" for name in sorted(needed - packages.keys())]
    assert not missing, "\n".join(missing)


def test_import_scan_follows_scopecal_modules():
    # workflow/scripts/forward.py imports scope only through scopecal.forward
    found = third_party_imports(ROOT / "workflow/scripts/forward.py")
    assert {"torch", "xarray", "scope", "matplotlib", "numpy"} <= found
    assert "scopecal" not in found and "pathlib" not in found
