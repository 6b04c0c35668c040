"""The import structure of cdsam (issue #15): imports point down, command modules stand alone, no private name
crosses a module boundary. Read from each module's source (module-level and function-level imports alike)."""
import ast
from pathlib import Path
import cdsam

PKG = Path(cdsam.__file__).parent
COMMANDS = {'train', 'demo', 'bench_cli', 'eval_cli', 'dual_circle_cli', 'predict_cli', 'sam_encode_cli', 'export_cli'}   # one per console script


def imports(mod: str) -> dict[str, set[str]]:
    "cdsam modules `mod` imports (anywhere in it), each with the names it takes from them."
    tree = ast.parse((PKG/f'{mod}.py').read_text())
    out: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            name = node.module or ''
            if node.level == 1: name = f'cdsam.{name}' if name else 'cdsam'
            if name.startswith('cdsam.'): out.setdefault(name[6:], set()).update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith('cdsam.'): out.setdefault(a.name[6:].split('.')[0], set())
    return out


MODULES = sorted(p.stem for p in PKG.glob('*.py') if p.stem not in ('__init__', '_modidx'))
GRAPH = {m: imports(m) for m in MODULES}


def test_defaults_is_the_ground_floor():
    assert GRAPH['defaults'] == {}
    assert set(GRAPH['config']) <= {'defaults'}
    assert set(GRAPH['plan']) <= {'defaults', 'config'}


def test_no_import_cycle():
    state: dict[str, int] = {}
    def visit(m, path):
        if state.get(m) == 1: raise AssertionError(f"import cycle: {' -> '.join(path + [m])}")
        if state.get(m) == 2: return
        state[m] = 1
        for n in GRAPH[m]: visit(n, path + [m])
        state[m] = 2
    for m in MODULES: visit(m, [])


def test_command_modules_do_not_import_each_other():
    bad = {m: sorted(set(GRAPH[m]) & (COMMANDS - {m})) for m in COMMANDS}
    assert not any(bad.values()), bad
    assert not any(set(GRAPH[m]) & COMMANDS for m in MODULES if m not in COMMANDS)


def test_no_private_names_across_modules():
    bad = [(m, n, sorted(x for x in names if x.startswith('_'))) for m in MODULES for n, names in GRAPH[m].items()]
    assert not [b for b in bad if b[2]], [b for b in bad if b[2]]


def test_console_scripts_have_their_own_modules():
    "Each console script's entry point lives in a command module; `cdsam.cli` re-exports none of them (no shim)."
    import tomllib
    scripts = tomllib.loads((PKG.parent/'pyproject.toml').read_text())['project']['scripts']
    assert {target.split(':')[0].split('.')[1] for target in scripts.values()} == COMMANDS
    import cdsam.cli
    assert not hasattr(cdsam.cli, 'MOVED') and not hasattr(cdsam.cli, '__getattr__')
    for target in scripts.values():
        assert not hasattr(cdsam.cli, target.split(':')[1]), target
    from cdsam.learner import stage_learner                     # the import path users write in scripts
    assert stage_learner.__module__ == 'cdsam.learner'
    from cdsam.views import IMAGENET_STATS
    from cdsam.data import IMAGENET_STATS as from_data
    assert from_data is IMAGENET_STATS
