"""Issue #33 (3): every console script takes each option as --snake_case and as --snake-case, and --help shows the
hyphenated form first."""
import contextlib, importlib, io, re, tomllib
from pathlib import Path
import pytest

SCRIPTS = tomllib.loads((Path(__file__).resolve().parents[1]/'pyproject.toml').read_text())['project']['scripts']


@pytest.mark.parametrize('name', sorted(SCRIPTS))
def test_help_shows_hyphenated_flags(name):
    mod, fn = SCRIPTS[name].split(':')
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as e: getattr(importlib.import_module(mod), fn)(['--help'])
    assert e.value.code == 0
    text = out.getvalue()
    snake = set(re.findall(r'--[a-z0-9]+(?:_[a-z0-9]+)+', text))
    for s in snake:
        h = s.replace('_', '-')
        assert h in text and text.index(h) < text.index(s), f'{name}: {s} has no {h} before it in --help'
    if name == 'cdsam-predict': assert '--output-dir' in text and '--largest-component' in text


def test_hyphenated_flags_parse_like_the_snake_case_ones(tmp_path):
    from cdsam.command import hyphenated
    from cdsam.predict_cli import predict_parser
    args = ['--checkpoint', 'c.pt', '--input', 'i', '--batch-size', '2', '--no-largest-component']
    a = hyphenated(predict_parser()).parse_intermixed_args(args + ['--output-dir', 'o'])
    b = hyphenated(predict_parser()).parse_intermixed_args(['--' + x[2:].replace('-', '_') if x.startswith('--') and x != '--no-largest-component' else x for x in args] + ['--output_dir', 'o'])
    assert vars(a) == vars(b) and a.output_dir == 'o' and a.batch_size == 2 and a.largest_component is False
