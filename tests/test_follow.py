"""Issue #33's step counts: how far one value travels through cdsam's calls (`tools/follow.py`, static, `ast`)."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'tools'))
import follow


def reached(start, param):
    steps, mods = follow.follow(start, param)
    return {b for _, b, _, _ in steps}, mods


def test_follow_counts_what_is_handed_on():
    "A part of the value handed on counts (`plan.model`); a call's result does not (it is another value)."
    fns, mods = reached('cdsam.learner.train_stages', 'cfg')
    assert 'cdsam.plan.resolve_plan' in fns and 'cdsam.model.build_model' not in fns, fns
    fns, _ = reached('cdsam.learner.train_stage', 'plan')
    assert {'cdsam.model.build_model', 'cdsam.learner.stage_learner', 'cdsam.stages.apply_stage'} <= fns, fns
    assert 'cdsam.learner' in mods


def test_config_and_predict_paths_are_short():
    """The training config is typed at its edge (`resolve_plan`); the predict path's options stay near the command;
    `stage_learner`'s plan reaches the stage's consumers, not the model builders (the caller builds the model)."""
    fns, mods = reached('cdsam.learner.train_stages', 'cfg')
    assert len(fns) <= 45 and len(mods) <= 12, (len(fns), sorted(mods))
    fns, mods = reached('cdsam.predict_cli._predict', 'a')
    assert len(fns) <= 25 and len(mods) <= 10, (len(fns), sorted(mods))
    fns, mods = reached('cdsam.learner.stage_learner', 'plan')
    assert len(fns) <= 30 and len(mods) <= 11, (len(fns), sorted(mods))
    assert not {'cdsam.model.build_model', 'cdsam.plan.resolve_plan'} & fns, fns
