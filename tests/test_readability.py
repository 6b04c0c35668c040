"""How cdsam's source reads (issue #24, `../shared/STYLE.md`): whole messages, one statement per line, `forward` beside
its class, short module docstrings. Read from the generated modules with `ast` / `tokenize`, so a notebook edit that
breaks a rule fails here."""
import ast, io, re, tokenize
from pathlib import Path
import cdsam

PKG = Path(cdsam.__file__).parent
SOURCES = {p.stem: p.read_text() for p in sorted(PKG.glob('*.py')) if p.stem != '_modidx'}
MESSAGE_CALLS = re.compile(r'(warn|Error|Exit|Exception|Interrupt)$')


def _name(f) -> str: return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ''


def _message_spans(src: str) -> list[tuple[int, int]]:
    "Line spans of every `raise` statement and every `warn(...)` / `...Error(...)` call."
    return [(n.lineno, n.end_lineno) for n in ast.walk(ast.parse(src))
            if isinstance(n, ast.Raise) or (isinstance(n, ast.Call) and MESSAGE_CALLS.search(_name(n.func)))]


def split_literals(src: str) -> list[tuple[int, str]]:
    "(line, fragment) of each string literal that is continued by another literal (implicit concatenation)."
    toks = [t for t in tokenize.generate_tokens(io.StringIO(src).readline) if t.type not in (tokenize.NL, tokenize.COMMENT)]
    return [(a.start[0], a.string) for a, b in zip(toks, toks[1:]) if a.type == b.type == tokenize.STRING]


def test_messages_are_whole_strings():
    "No `raise` / `warn` message is glued from literals (a fragment ending in ' \"' cannot be grepped)."
    bad = []
    for mod, src in SOURCES.items():
        spans = _message_spans(src)
        bad += [f'{mod}.py:{line}: {frag}' for line, frag in split_literals(src) if any(a <= line <= b for a, b in spans)]
    assert not bad, bad


def test_split_literals_is_found():
    "The check above can fail: a message wrapped mid-phrase is reported, a whole one is not."
    wrapped = 'raise ValueError("its whole DINO backbone trains "\n                 "(full)")\n'
    assert split_literals(wrapped) == [(1, '"its whole DINO backbone trains "')]
    assert (1, 2) in _message_spans(wrapped)
    assert split_literals('raise ValueError("its whole DINO backbone trains (full)")\n') == []


def semicolon_lines(src: str) -> list[int]:
    "Lines where `;` chains statements (outside brackets and strings)."
    depth, out = 0, []
    for t in tokenize.generate_tokens(io.StringIO(src).readline):
        if t.type == tokenize.OP and t.string in '([{': depth += 1
        elif t.type == tokenize.OP and t.string in ')]}': depth -= 1
        elif t.type == tokenize.OP and t.string == ';' and depth == 0: out.append(t.start[0])
    return out


def test_one_statement_per_line():
    assert semicolon_lines('a = 1; b = 2\nc = [1, 2]\nd = "x; y"\n') == [1]
    bad = [f'{mod}.py:{line}' for mod, src in SOURCES.items() for line in semicolon_lines(src)]
    assert not bad, bad


def test_methods_live_in_their_class():
    "No `@patch` on a class of the same module (STYLE.md: `@patch` extends classes defined elsewhere)."
    bad = []
    for mod, src in SOURCES.items():
        tree = ast.parse(src)
        own = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
        for n in tree.body:
            if not isinstance(n, ast.FunctionDef): continue
            patched = any(_name(d.func if isinstance(d, ast.Call) else d) == 'patch' for d in n.decorator_list)
            ann = n.args.args[0].annotation if n.args.args else None
            if patched and (n.name == 'forward' or (isinstance(ann, ast.Name) and ann.id in own)):
                bad.append(f'{mod}.{n.name}')
    assert not bad, bad


def test_module_docstrings_open_with_one_sentence():
    "A module docstring's first line is one sentence of purpose (STYLE.md), not a 400-character inventory."
    long = {mod: len(ast.get_docstring(ast.parse(src)).split('\n')[0]) for mod, src in SOURCES.items()
            if ast.get_docstring(ast.parse(src))}
    assert not {m: n for m, n in long.items() if n > 160}, long


def long_lines(src: str, limit: int = 120) -> list[int]:
    "Lines over `limit` characters, except nbdev's generated `__all__` (written by nbdev-export, not by hand)."
    return [i for i, l in enumerate(src.split('\n'), 1) if len(l) > limit and not l.startswith('__all__ = ')]


def test_no_long_lines():
    """Issue #33, point 5: exported lines stay <= 120 characters (there were 500 longer; messages were reworded to fit a
    line whole, calls broken at their brackets)."""
    assert long_lines('x = 1\n' + 'y = "' + 'a' * 130 + '"\n__all__ = [' + "'b', " * 40 + ']\n') == [2]
    n = sum(len(long_lines(src)) for src in SOURCES.values())
    assert n == 0, [f'{m}:{i}' for m, src in SOURCES.items() for i in long_lines(src)]


def test_one_currency_below_the_edges():
    """Issue #33, point 2: no library signature takes a typed section *or* a mapping, except the edges that convert a
    config: `model_plan` / `data_plan` (`stage_learner` takes a `RunPlan` and a built model)."""
    import cdsam.defaults, cdsam.plan
    typed = {n for n, o in vars(cdsam.defaults).items() if isinstance(o, type) and issubclass(o, cdsam.defaults.Section)}
    typed |= {'RunPlan', 'StageSpec', 'OptimPlan', 'EvalPlan', 'RunSpec', 'CheckpointPlan'}
    edges = {'model_plan', 'data_plan'}
    both = []
    for mod, src in SOURCES.items():
        for n in ast.walk(ast.parse(src)):
            if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) or n.name in edges: continue
            for a in n.args.args + n.args.kwonlyargs:
                names = {x.id for x in ast.walk(a.annotation) if isinstance(x, ast.Name)} if a.annotation is not None else set()
                names = names if not isinstance(a.annotation, ast.Constant) else set(re.findall(r'\w+', a.annotation.value))
                if 'Mapping' in names and names & typed: both.append(f'{mod}.{n.name}({a.arg})')
    assert not both, both
