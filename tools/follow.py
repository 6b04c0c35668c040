"""Follow one parameter through cdsam's calls (issue #33's step counts), statically, with `ast`.

Start at a function's parameter; inside each function a name carries the value when it is the parameter or is
assigned a part of it (`c = plan.data`, `d = cfg['data']`, `x = a or b`; not a call's result, which is another value).
Every call that hands such a value on (`f(plan)`, `f(plan.model)`, `f(c=cfg['data'])`, positionally or by keyword) to a function or class defined in cdsam is one **step** to that callee's
matching parameter (methods: `self` skipped; a class: its `__init__` or, for a dataclass, nothing further). The count:
**steps** are the cdsam functions the value reaches (each once, however many of its parameters receive part of it),
**modules** those of the start and of every function reached. A call through an
attribute (`obj.fit_stage(...)`) resolves when exactly one cdsam function or method has that name.

    python tools/follow.py cdsam.learner.stage_learner plan
    python tools/follow.py cdsam.learner.train_stages cfg
    python tools/follow.py cdsam.predict_cli._predict a
"""
import ast, sys
from collections import defaultdict, deque
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / 'cdsam'

def index():
    "every function / method / class of the package: qualified name -> (module, node); plus per-module imports"
    defs, by_name, imports = {}, defaultdict(list), {}
    for p in sorted(PKG.glob('*.py')):
        if p.stem.startswith('_'): continue
        mod = f'cdsam.{p.stem}'; tree = ast.parse(p.read_text()); imp = {}
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.module and (n.level or n.module.startswith('cdsam')):
                src = n.module if n.module.startswith('cdsam') else f'cdsam.{n.module}'
                for a in n.names: imp[a.asname or a.name] = f'{src}.{a.name}'
        imports[mod] = imp
        for n in tree.body:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defs[f'{mod}.{n.name}'] = (mod, n); by_name[n.name].append(f'{mod}.{n.name}')
            elif isinstance(n, ast.ClassDef):
                defs[f'{mod}.{n.name}'] = (mod, n); by_name[n.name].append(f'{mod}.{n.name}')
                for m in n.body:
                    if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        q = f'{mod}.{n.name}.{m.name}'; defs[q] = (mod, m); by_name[m.name].append(q)
    return defs, by_name, imports

def names_in(e): return {n.id for n in ast.walk(e) if isinstance(n, ast.Name)}

def access_names(e):
    "the names an expression hands on as they are: `x`, `x.a.b`, `x['k']`, `x.a[0]` (a call's result is another value)"
    while isinstance(e, (ast.Attribute, ast.Subscript, ast.Starred)): e = e.value
    if isinstance(e, ast.Name): return {e.id}
    if isinstance(e, (ast.Tuple, ast.List)): return set().union(*map(access_names, e.elts)) if e.elts else set()
    if isinstance(e, ast.IfExp): return access_names(e.body) | access_names(e.orelse)
    if isinstance(e, ast.BoolOp): return set().union(*map(access_names, e.values))
    return set()

def targets(t): return names_in(t) if isinstance(t, (ast.Name, ast.Tuple, ast.List, ast.Starred)) else set()

def tainted_names(fn, param):
    taint, changed = {param}, True
    while changed:
        changed = False
        for n in ast.walk(fn):
            if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and n.value is not None and access_names(n.value) & taint:
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                    new = targets(t) - taint
                    if new: taint |= new; changed = True
            elif isinstance(n, (ast.For, ast.comprehension)) and access_names(n.iter) & taint:
                new = targets(n.target) - taint
                if new: taint |= new; changed = True
            elif isinstance(n, ast.withitem) and n.optional_vars is not None and access_names(n.context_expr) & taint:
                new = targets(n.optional_vars) - taint
                if new: taint |= new; changed = True
    return taint

def resolve(call, mod, cls, defs, by_name, imports):
    f = call.func
    if isinstance(f, ast.Name):
        q = imports[mod].get(f.id) or f'{mod}.{f.id}'
        return q if q in defs else None
    if isinstance(f, ast.Attribute):
        if isinstance(f.value, ast.Name) and f.value.id == 'self' and cls and f'{mod}.{cls}.{f.attr}' in defs:
            return f'{mod}.{cls}.{f.attr}'
        if isinstance(f.value, ast.Call) and isinstance(f.value.func, ast.Name) and f.value.func.id == 'super': return None
        c = by_name.get(f.attr, [])
        return c[0] if len(c) == 1 else None
    return None

def params(fn, is_method):
    a = fn.args
    ps = [x.arg for x in a.posonlyargs + a.args]
    return (ps[1:] if is_method and ps else ps), [x.arg for x in a.kwonlyargs]

def follow(start, param):
    defs, by_name, imports = index()
    seen, steps, q = {(start, param)}, [], deque([(start, param, 0)])
    while q:
        qual, p, depth = q.popleft()
        mod, fn = defs[qual]
        if isinstance(fn, ast.ClassDef):
            init = f'{qual}.__init__'
            if init in defs and (init, p) not in seen: seen.add((init, p)); q.append((init, p, depth))
            continue
        cls = qual.split('.')[2] if qual.count('.') == 3 else None
        taint = tainted_names(fn, p)
        for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call)):
            callee = resolve(call, mod, cls, defs, by_name, imports)
            if callee is None or callee == qual: continue
            cfn = defs[callee][1]
            if isinstance(cfn, ast.ClassDef):
                init = defs.get(f'{callee}.__init__')
                if init is None: pos, kw = [], []
                else: pos, kw = params(init[1], True)
                if init is None:   # a dataclass: its fields, in order
                    pos = [s.target.id for s in cfn.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
            else:
                is_method = callee.count('.') == 3
                pos, kw = params(cfn, is_method)
            hits = []
            for i, a in enumerate(call.args):
                if isinstance(a, ast.Starred): continue
                if access_names(a) & taint and i < len(pos): hits.append(pos[i])
            for k in call.keywords:
                if k.arg and access_names(k.value) & taint and (k.arg in pos or k.arg in kw): hits.append(k.arg)
            for h in hits:
                target = f'{callee}.__init__' if isinstance(cfn, ast.ClassDef) and f'{callee}.__init__' in defs else callee
                if (target, h) in seen: continue
                seen.add((target, h)); steps.append((qual, target, h, depth + 1)); q.append((target, h, depth + 1))
    mods = {start.rsplit('.', 1)[0] if start.count('.') == 2 else start.rsplit('.', 2)[0]}
    mods |= {defs[t][0] for _, t, _, _ in steps}
    return steps, mods

if __name__ == '__main__':
    start, param = sys.argv[1], sys.argv[2]
    steps, mods = follow(start, param)
    for a, b, p, d in steps: print(f'{"  " * (d - 1)}{a.removeprefix("cdsam.")} -> {b.removeprefix("cdsam.")}({p})')
    reached = {b for _, b, _, _ in steps}
    print(f'{start} {param}: {len(reached)} steps (functions reached; {len(steps)} parameters) through {len(mods)} modules '
          f'({", ".join(sorted(m.removeprefix("cdsam.") for m in mods))})')
