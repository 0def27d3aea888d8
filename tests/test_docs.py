"""The docs site as a reader meets it: built with the README's docs command (no quarto), served on 127.0.0.1, opened in
headless Chromium. Also: README.md and the sidebar are generated and must not drift from their sources."""
import html.parser, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
from urllib.parse import urldefrag, urlparse
import pytest
from conftest import ROOT, browse, free_port

SITE = ROOT / '_docs'
PAGES = {'home': 'index.html', 'inference': 'inference/07_processor.html', 'training': 'training/18_run.html',
         'clients': 'clients/21_api.html', 'commands': 'clients/24_commands.html', 'tutorial': 'tutorials/01_sst2.html'}


def test_readme_is_generated_from_index():
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_sidebar_lists_every_notebook_once():
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'sidebar.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    listed = [l.strip()[2:] for l in (ROOT / 'nbs' / 'sidebar.yml').read_text().splitlines() if l.strip().endswith('.ipynb')]
    on_disk = sorted(str(p.relative_to(ROOT / 'nbs')) for p in (ROOT / 'nbs').rglob('*.ipynb')
                     if not any(part.startswith(('_', '.')) for part in p.relative_to(ROOT / 'nbs').parts))
    assert sorted(listed) == on_disk


@pytest.fixture(scope='module')
def site():
    "Build the site with the README's docs command, then serve it on 127.0.0.1."
    env = {**os.environ, 'PATH': f'{Path(sys.executable).parent}:{os.environ["PATH"]}'}
    r = subprocess.run(['bash', str(ROOT / 'tools' / 'docs.sh')], capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert 'broken link' not in r.stdout + r.stderr, r.stdout + r.stderr
    port = free_port()
    srv = subprocess.Popen([sys.executable, '-m', 'http.server', str(port), '--bind', '127.0.0.1', '--directory', str(SITE)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f'http://127.0.0.1:{port}/'
    import urllib.request
    for _ in range(100):
        try: urllib.request.urlopen(url, timeout=1); break
        except OSError: time.sleep(0.1)
    yield url
    srv.terminate(); srv.wait(10)


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.links = []
    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ('href', 'src') and v: self.links.append(v)


def test_every_internal_link_resolves(site):
    broken = []
    for page in SITE.rglob('*.html'):
        p = _Links(); p.feed(page.read_text(encoding='utf-8'))
        for link in p.links:
            u = urlparse(link)
            if u.scheme or u.netloc or link.startswith(('#', 'mailto:', 'javascript:', 'data:')): continue
            target = (page.parent / urldefrag(u.path)[0]).resolve() if not u.path.startswith('/') else (SITE / u.path.lstrip('/')).resolve()
            if target.is_dir(): target = target / 'index.html'
            if not target.exists(): broken.append(f'{page.relative_to(SITE)} -> {link}')
    assert not broken, broken[:20]


def test_search_index_finds_processor(site):
    entries = json.loads((SITE / 'search.json').read_text())
    hits = [e['href'] for e in entries if 'Processor' in e.get('title', '') + e.get('text', '')]
    assert any(h.startswith('inference/07_processor.html') for h in hits), hits[:10]


def test_no_page_shows_a_build_machine_path(site):
    needles = {str(ROOT), str(Path.home()) + '/', tempfile.gettempdir() + '/tmp', tempfile.gettempdir() + '/pytest-'}
    found = [(p.relative_to(SITE), n) for p in SITE.rglob('*.html') for n in needles if n in p.read_text(encoding='utf-8')]
    assert not found, found[:10]


@pytest.mark.parametrize('name', list(PAGES))
def test_page_opens_in_chromium(site, chromium, name, tmp_path):
    shot = tmp_path / f'docs_{name}.png'
    dom, console = browse(site + PAGES[name], screenshot=shot, wait_ms=3000, size=(1280, 1400))
    assert '<h1' in dom and 'nlp_lib' in dom, dom[:500]
    assert not [c for c in console if 'Uncaught' in c or 'Failed to load' in c or 'Error' in c], console
    if os.environ.get('NLP_LIB_SCREENSHOTS'):
        Path(os.environ['NLP_LIB_SCREENSHOTS']).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ['NLP_LIB_SCREENSHOTS']) / shot.name)
