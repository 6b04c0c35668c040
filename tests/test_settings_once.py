"""Each setting is written once (issue #33): its default, type, range and help are a field of its section's dataclass in
`cdsam.defaults`; everything else is generated from those classes or is them. These tests fail when a default, type or
range is written anywhere else in the package."""
import ast, dataclasses, re
from pathlib import Path
import pytest
import cdsam
from cdsam.defaults import SECTIONS, Section, settings, ConfigError, DataPlan, ModelPlan, LossPlan, CachePlan

PKG = Path(cdsam.__file__).parent
KEYS = {k: f for k, f in settings()}
OTHER_MODULES = sorted(p for p in PKG.glob('*.py') if p.name not in ('defaults.py', '_modidx.py'))


def _default(f):
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def _strings(tree):
    "Every string constant of a module, f-strings' literal parts included."
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str): yield node.lineno, node.value


def test_no_range_or_type_stated_outside_the_schema():
    """A message saying what a setting's value must be ('data.crop must be', "config key 'data.crop' must be") exists
    only in the schema: elsewhere a check would restate its type or range."""
    pat = re.compile(r"'?\b(" + '|'.join(re.escape(k) for k in sorted(KEYS, key=len, reverse=True)) + r")\b'? must be")
    hits = [f'{p.name}:{line}: {s.strip()[:90]}' for p in OTHER_MODULES for line, s in _strings(ast.parse(p.read_text()))
            if pat.search(s)]
    assert not hits, hits


def test_no_defaults_table_outside_the_schema():
    """No dict literal or `dict(...)` call restates three or more of a section's defaults (key and value) outside
    `cdsam.defaults`; the old validation tables are gone."""
    by_section = {}
    for k, f in KEYS.items():
        sec, name = k.rsplit('.', 1)
        by_section.setdefault(sec, {})[name] = _default(f)
    hits = []
    for p in OTHER_MODULES:
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in ('RANGES', 'NULLABLE_TYPES', 'ANY_OF', 'NOT_NULL'):
                hits.append(f'{p.name}:{node.lineno}: the old table {node.id}')
            pairs = []
            if isinstance(node, ast.Dict):
                pairs = [(k.value, v) for k, v in zip(node.keys, node.values) if isinstance(k, ast.Constant)]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'dict':
                pairs = [(kw.arg, kw.value) for kw in node.keywords if kw.arg]
            if len(pairs) < 3: continue
            for sec, defaults in by_section.items():
                same = [k for k, v in pairs if k in defaults and _literal(v) == (True, defaults[k])]
                if len(same) >= 3: hits.append(f'{p.name}:{node.lineno}: restates {sec} defaults {same}')
    assert not hits, hits


def _literal(node):
    try: return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError): return False, None


def test_plan_sections_are_the_schema():
    "The sections a stage uses as given are the schema's classes, not copies of their fields."
    import cdsam.plan, cdsam.data, cdsam.model, cdsam.losses
    assert (cdsam.plan.DataPlan, cdsam.plan.ModelPlan, cdsam.plan.LossPlan, cdsam.plan.CachePlan) == \
           (DataPlan, ModelPlan, LossPlan, CachePlan)
    assert all(issubclass(c, Section) for c in SECTIONS.values())
    # the plan's own (decided) classes declare no defaults of their own
    for cls in (cdsam.plan.EvalPlan, cdsam.plan.RunSpec, cdsam.plan.OptimPlan, cdsam.plan.CheckpointPlan):
        assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                   for f in dataclasses.fields(cls)), cls


def test_every_setting_has_help_type_and_default_config_is_generated():
    from cdsam.config import default_config
    assert all(f.metadata['help'] and f.metadata['kind'] for f in KEYS.values())
    cfg = default_config()
    for k, f in KEYS.items():
        d = cfg
        for part in k.split('.'): d = d[part]
        assert d == _default(f), k


# the config cases of the issue: each is one line naming its key
CASES = [('lora.alpha=0', "'lora.alpha' must be > 0"), ('loss.dice=-1', "'loss.dice' must be >= 0"),
         ('optim.betas=[0.9]', "'optim.betas' must be two numbers"), ('data.n_pos_points=-1', "'data.n_pos_points' must be in [0, 64]"),
         ('cache.views=0', "'cache.views' must be in [1, 64]"), ('checkpoint.monitor=banana', "'checkpoint.monitor' must be one of"),
         ('run.name=', "'run.name' must be set"), ('lora.r=1e9', "'lora.r' must be in [1, 1024]"),
         ('model.dino.kwargs.depth=1e9', "'model.dino.kwargs.depth' is 1000000000.0"),
         ('data.crop=' + '9' * 400, "'data.crop' must be an integer of a usable size, got a number of 400 digits")]


@pytest.mark.parametrize('override,msg', CASES)
def test_config_cases_name_their_key(override, msg):
    from cdsam.config import load_config
    with pytest.raises(ConfigError, match=re.escape(msg)) as e: load_config({}, [override])
    assert '\n' not in str(e.value)
