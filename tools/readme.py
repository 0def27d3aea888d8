"""Write README.md from nbs/index.ipynb (what `nbdev-readme` does with quarto): its markdown cells, in order.
`python tools/readme.py --check` exits 1 when README.md differs (a test runs it)."""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme() -> str:
    nb = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())
    cells = [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown']
    return '\n\n'.join(cells).rstrip() + '\n'


if __name__ == '__main__':
    path, text = ROOT / 'README.md', readme()
    if '--check' in sys.argv:
        if path.read_text() != text: sys.exit('README.md differs from nbs/index.ipynb: run python tools/readme.py')
    else: path.write_text(text)
