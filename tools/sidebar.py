"""Write nbs/sidebar.yml: the docs site's sections in reading order (tutorials, how-to guides, explanations, then the
reference by package). `python tools/sidebar.py --check` exits 1 when the committed file differs (a test runs it)."""
import sys
from pathlib import Path

NBS = Path(__file__).resolve().parents[1] / 'nbs'
SECTIONS = [('Tutorials', 'tutorials'), ('How-to guides', 'how-to'), ('Explanations', 'explanations')]
REFERENCE = [('Inference', 'inference'), ('Training', 'training'), ('Clients', 'clients')]


def _nbs(folder: str) -> list[str]:
    return [f'{folder}/{p.name}' if folder else p.name for p in sorted((NBS / folder).glob('*.ipynb')) if not p.name.startswith(('_', '.'))]


def sidebar() -> str:
    out = ['website:', '  sidebar:', '    contents:', '      - index.ipynb']
    for title, folder in SECTIONS:
        if _nbs(folder): out += [f'      - section: {title}', '        contents:'] + [f'          - {n}' for n in _nbs(folder)]
    out += ['      - section: Reference', '        contents:'] + [f'          - {n}' for n in _nbs('') if n != 'index.ipynb']
    for title, folder in REFERENCE:
        out += [f'          - section: {title}', '            contents:'] + [f'              - {n}' for n in _nbs(folder)]
    return '\n'.join(out) + '\n'


if __name__ == '__main__':
    path, text = NBS / 'sidebar.yml', sidebar()
    if '--check' in sys.argv:
        if path.read_text() != text: sys.exit('nbs/sidebar.yml is out of date: run python tools/sidebar.py')
    else: path.write_text(text)
