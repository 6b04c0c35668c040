"""Write README.md from nbs/index.ipynb without Quarto.

`nbdev-readme` renders the index notebook with Quarto, which cannot be installed offline here;
this fallback joins the notebook's markdown cells (and code cells' sources, fenced), which is
what the Quarto render produces for a notebook without outputs. `--check` exits 1 when
README.md is stale.
"""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def render(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text())
    parts = []
    for c in nb['cells']:
        src = ''.join(c['source']).strip()
        if not src or src.startswith('#| hide'): continue
        if c['cell_type'] == 'markdown': src = src.replace('](images/', '](nbs/images/').replace('](tutorials/', '](nbs/tutorials/')   # links from the repo root
        parts.append(src if c['cell_type'] == 'markdown' else f"```python\n{src}\n```")
    return "<!-- generated from nbs/index.ipynb by tools/index_to_readme.py: edit the notebook -->\n\n" + '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    txt, out = render(root/'nbs'/'index.ipynb'), root/'README.md'
    if '--check' in sys.argv:
        ok = out.exists() and out.read_text() == txt
        print('README.md is up to date' if ok else 'README.md is stale: run python tools/index_to_readme.py')
        sys.exit(0 if ok else 1)
    out.write_text(txt); print(f'wrote {out}')
