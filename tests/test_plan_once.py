"""Settings are decided once (issue #24): while `train_stages` trains, `load_config` runs only inside `resolve_plan`, once
per plan, and every consumer reads the plan's typed sections."""
import inspect, sys
import cdsam.config
from cdsam.plan import resolve_plan, DataPlan, ModelPlan, CachePlan, LossPlan, EvalPlan, RunSpec
from conftest import tiny_config


def _count(monkeypatch, name: str, module, calls: list):
    "Wrap `module.name` (and every cdsam module's binding of it) so each call appends its caller's function name."
    original = getattr(module, name)
    def counted(*args, **kwargs):
        calls.append(inspect.stack()[1].function)
        return original(*args, **kwargs)
    for mod in [m for n, m in sys.modules.items() if n == 'cdsam' or n.startswith('cdsam.')]:
        if getattr(mod, name, None) is original: monkeypatch.setattr(mod, name, counted)


def test_load_config_runs_once_per_plan(data, tmp_path, monkeypatch):
    import cdsam.plan
    from cdsam.learner import train_stages
    loads, plans = [], []
    _count(monkeypatch, 'load_config', cdsam.config, loads)
    _count(monkeypatch, 'resolve_plan', cdsam.plan, plans)
    cfg = tiny_config(data['voc'], tmp_path/'exp', cache=dict(features='memory'))
    results = train_stages(cfg, [1, 2], log=lambda *a, **k: None)
    assert [r['stage'] for r in results] == [1, 2] and all(r['latest'].is_file() for r in results)
    assert len(plans) >= 2                               # one per stage (and one for the run folder)
    assert loads == ['stage_config'] * len(plans), (loads, plans)


def test_sections_are_typed_and_frozen():
    p = resolve_plan(dict(data=dict(crop=96), cache=dict(features='memory')), stage=2)
    assert [type(x) for x in (p.model, p.data, p.cache, p.loss, p.eval, p.run)] == [ModelPlan, DataPlan, CachePlan,
                                                                                     LossPlan, EvalPlan, RunSpec]
    assert (p.data.crop, p.cache.features, p.eval.prompt_mode, p.run.dir.name) == (96, 'memory', 'text', 'run')
    import dataclasses, pytest
    with pytest.raises(dataclasses.FrozenInstanceError): p.data.crop = 1


def test_per_stage_cannot_move_the_run_folder():
    import pytest
    with pytest.raises(cdsam.config.ConfigError, match=r"per_stage.2.run.name: a run's folder is one for all its stages"):
        resolve_plan(dict(per_stage={2: dict(run=dict(name='elsewhere'))}), stage=1)
