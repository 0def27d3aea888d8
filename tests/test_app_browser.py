"""The Streamlit demo served for real (`streamlit_command`) and loaded in headless Chromium, for a single-label, a
multi-label (GoEmotions) and a text-pair (MRPC) model.

Streamlit's page is built by JavaScript from messages on a websocket, so `conftest.browse` (one `--dump-dom` under
`--virtual-time-budget`) sees only the empty shell: virtual time runs out before the websocket has delivered anything.
This test drives Chromium over the DevTools protocol instead (the `websockets` client, a dependency of streamlit) and
waits in real time until the page has finished its script run.
"""
import base64, itertools, json, os, shutil, subprocess, tempfile, time, urllib.request
from pathlib import Path
import pytest

from conftest import CHROMIUM_FLAGS, free_port

pytest.importorskip('streamlit')
from websockets.sync.client import connect  # noqa: E402  (streamlit's own dependency)

READY = """(() => {
  const running = document.querySelector('[data-testid="stStatusWidget"]');
  const metrics = [...document.querySelectorAll('[data-testid="stMetricValue"]')].map(e => e.innerText.trim());
  const errors = [...document.querySelectorAll('[data-testid="stException"], [data-testid="stAlertContentError"]')].map(e => e.innerText);
  const chart = !!document.querySelector('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg');
  const texts = [...document.querySelectorAll('textarea')].map(e => e.value);
  const deploy = !!document.querySelector('[data-testid="stAppDeployButton"]') ||
                 [...document.querySelectorAll('button')].some(b => b.innerText.trim() === 'Deploy');
  return JSON.stringify({running: !!running, metrics, errors, chart, texts, deploy, html: !!document.querySelector('.importance .tok')});
})()"""
OPEN_MENU = "document.querySelector('[data-testid=\"stMainMenu\"] button')?.click()"
MENU = "document.querySelector('[data-testid=\"stMainMenuPopover\"]')?.innerText || ''"


def _get_json(url, timeout=30):
    end = time.monotonic() + timeout
    while True:
        try: return json.loads(urllib.request.urlopen(url, timeout=2).read())
        except OSError:
            if time.monotonic() > end: raise
            time.sleep(0.2)


class _CDP:
    "A minimal DevTools-protocol session on one page target: commands by id, events collected."
    def __init__(self, ws):
        self.ws, self.ids, self.events = ws, itertools.count(1), []

    def __call__(self, method, timeout=60, **params):
        i = next(self.ids)
        self.ws.send(json.dumps({'id': i, 'method': method, 'params': params}))
        end = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, end - time.monotonic())))
            if msg.get('id') == i:
                if 'error' in msg: raise RuntimeError(f'{method}: {msg["error"]}')
                return msg.get('result', {})
            if 'method' in msg: self.events.append(msg)

    def eval(self, expr):
        return self('Runtime.evaluate', expression=expr, returnByValue=True)['result'].get('value')

    def console(self):
        "Console messages and uncaught exceptions seen so far, as text."
        out = []
        for e in self.events:
            p = e.get('params', {})
            if e['method'] == 'Runtime.consoleAPICalled': out.append(f"{p['type']}: " + ' '.join(str(a.get('value', a.get('description', ''))) for a in p['args']))
            elif e['method'] == 'Runtime.exceptionThrown': out.append('exception: ' + p['exceptionDetails'].get('exception', {}).get('description', p['exceptionDetails']['text']))
            elif e['method'] == 'Log.entryAdded': out.append(f"{p['entry']['level']}: {p['entry']['text']}")
        return out


def browse_streamlit(url, screenshot, size=(1280, 1800), timeout=90, importance=True):
    """Open `url` in headless Chromium, wait until the Streamlit script run has finished and drawn its results (the chart,
    and the importances when `importance`), save a full-page PNG to `screenshot`, then open the main menu (⋮);
    return (page state from READY plus the menu's text as `menu`, the DOM, console messages)."""
    port, profile = free_port(), tempfile.mkdtemp(prefix='chromium-')
    proc = subprocess.Popen(['chromium', *CHROMIUM_FLAGS, f'--window-size={size[0]},{size[1]}', f'--remote-debugging-port={port}',
                             '--remote-debugging-address=127.0.0.1', f'--user-data-dir={profile}', 'about:blank'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page = next(t for t in _get_json(f'http://127.0.0.1:{port}/json/list') if t['type'] == 'page')
        with connect(page['webSocketDebuggerUrl'], max_size=None, open_timeout=30) as ws:
            cdp = _CDP(ws)
            for domain in ('Page', 'Runtime', 'Log'): cdp(f'{domain}.enable')
            cdp('Emulation.setDeviceMetricsOverride', width=size[0], height=size[1], deviceScaleFactor=1, mobile=False)
            cdp('Page.navigate', url=url)
            end, state = time.monotonic() + timeout, {}
            while time.monotonic() < end:
                state = json.loads(cdp.eval(READY) or '{}')
                if state.get('errors') or (state.get('metrics') and state.get('chart') and (state.get('html') or not importance)
                                           and not state.get('running')): break
                time.sleep(0.5)
            time.sleep(1.5)                               # let the chart (vega) and fonts settle before the picture
            state = json.loads(cdp.eval(READY) or '{}')
            dom = cdp.eval('document.documentElement.outerHTML')
            shot = cdp('Page.captureScreenshot', format='png', captureBeyondViewport=True)
            Path(screenshot).write_bytes(base64.b64decode(shot['data']))
            cdp.eval(OPEN_MENU)
            end = time.monotonic() + 10
            while not (menu := cdp.eval(MENU)) and time.monotonic() < end: time.sleep(0.2)
            return state | {'menu': menu}, dom, cdp.console()
    finally:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _single_label(out):
    from nlp_lib.datasets import data_dir, read_tsv
    from nlp_lib.inference.processor import Processor
    texts, labels = read_tsv(data_dir('sst2') / 'dev.tsv', limit=300)
    proc = Processor.from_corpus(texts, labels, 'nlp_lib.TextCNN.v1', {'emb_dim': 32, 'n_filters': 16}, seed=3, label_names=['negative', 'positive'])
    return proc.save(out)


def _multi_label(out):
    "GoEmotions (no header: text, comma-separated label ids, id), with one threshold per label."
    from nlp_lib.datasets import data_dir
    from nlp_lib.inference.labels import Labels
    from nlp_lib.inference.processor import Processor, default_postprocess
    rows = [line.split('\t') for line in (data_dir('goemotions') / 'train.tsv').read_text(encoding='utf-8').splitlines()[:300]]
    names = (data_dir('goemotions') / 'labels.txt').read_text(encoding='utf-8').split()
    texts, sets = [r[0] for r in rows], [[names[int(i)] for i in r[1].split(',')] for r in rows]
    labels = Labels.from_sets(sets).names
    post = default_postprocess(labels, multi_label=True, thresholds=[round(0.7 + 0.05 * (i % 4), 2) for i in range(len(labels))])
    return Processor.from_corpus(texts, sets, 'nlp_lib.SWEM.v1', {'emb_dim': 16, 'hidden': 0}, seed=1, post=post).save(out)


def _pair(out):
    "MRPC (BOM, CRLF; header Quality, #1 ID, #2 ID, #1 String, #2 String)."
    from nlp_lib.datasets import data_dir
    from nlp_lib.inference.processor import Processor
    rows = [line.split('\t') for line in (data_dir('mrpc') / 'train.tsv').read_text(encoding='utf-8-sig').splitlines()[1:301]]
    return Processor.from_corpus([r[3] for r in rows], [r[0] for r in rows], 'nlp_lib.SWEM.v1', {'emb_dim': 16, 'hidden': 0}, seed=1,
                                 label_names=['not a paraphrase', 'paraphrase'], pairs=[r[4] for r in rows]).save(out)


KINDS = {'single_label': _single_label, 'multi_label': _multi_label, 'pair': _pair}


@pytest.fixture(scope='module', params=list(KINDS))
def artifact(request, tmp_path_factory):
    return request.param, KINDS[request.param](tmp_path_factory.mktemp('app') / request.param)


def _serve(artifact, log):
    from nlp_lib.app import streamlit_command
    port = free_port()
    server = subprocess.Popen(streamlit_command(artifact, host='127.0.0.1', port=port), stdout=log, stderr=subprocess.STDOUT)
    return server, port


def test_app_in_browser(chromium, artifact, tmp_path):
    from nlp_lib.app import DEFAULT_PAIR, DEFAULT_TEXT
    from nlp_lib.inference.processor import Processor
    kind, artifact = artifact
    proc = Processor.load(artifact)
    want = proc(DEFAULT_PAIR if kind == 'pair' else DEFAULT_TEXT)
    log_path = tmp_path / 'streamlit.log'
    with open(log_path, 'w') as log:
        server, port = _serve(artifact, log)
        try:
            end = time.monotonic() + 60
            while True:
                assert server.poll() is None, f'streamlit exited with {server.returncode}:\n{log_path.read_text()[-3000:]}'
                try:
                    if urllib.request.urlopen(f'http://127.0.0.1:{port}/_stcore/health', timeout=2).read().strip() == b'ok': break
                except OSError: pass
                assert time.monotonic() < end, f'no health answer in 60 s:\n{log_path.read_text()[-3000:]}'
                time.sleep(0.3)
            shot = tmp_path / 'app.png'
            state, dom, console = browse_streamlit(f'http://127.0.0.1:{port}/', shot, importance=kind != 'pair')
        finally:
            server.terminate()
            try: server.wait(15)
            except subprocess.TimeoutExpired: server.kill(); server.wait()
    if os.environ.get('NLP_LIB_SCREENSHOTS'):
        out = Path(os.environ['NLP_LIB_SCREENSHOTS']); out.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, out / ('app.png' if kind == 'single_label' else f'app-{kind}.png'))
    server_log = log_path.read_text()
    assert shot.stat().st_size > 20_000, 'the screenshot is (nearly) blank'
    assert state.get('errors') == [], f'the page shows errors: {state.get("errors")}'
    assert not state.get('running'), 'the script run had not finished'
    assert state.get('chart'), 'no probability chart drawn'
    assert not state.get('deploy') and 'stAppDeployButton' not in dom, 'the developer toolbar (Deploy button) is shown'
    menu = state.get('menu', '')                            # `--client.toolbarMode viewer`: the viewer's items only
    assert 'Print' in menu and not any(w in menu for w in ('Rerun', 'Clear cache', 'Deploy', 'Settings')), menu
    if kind == 'multi_label':                                                                # every label of the set, with its score
        assert state.get('metrics') == [f'{len(want.labels)} of {len(proc.labels)}'], (state, console)
        assert want.labels and all(f'>{x.label}<' in dom and f'{x.score:.4f}' in dom for x in want.labels), [x.label for x in want.labels]
        assert 'the red tick its threshold' in dom
    else: assert state.get('metrics') == [want.label, f'{want.score:.4f}'], (state, console)   # the label and score the processor gives
    if kind == 'pair':                                                                       # two text boxes; no importances
        assert state.get('texts') == list(DEFAULT_PAIR), state.get('texts')
        assert 'Which words mattered' in dom and 'class="tok"' in dom and '&lt;sep&gt;' in dom
    else: assert len(state.get('texts')) == 1 and 'Which words mattered' in dom and 'class="tok"' in dom
    assert 'Traceback' not in dom and 'stException' not in dom
    assert 'Traceback' not in server_log, server_log[-3000:]
    assert not [m for m in console if m.startswith('exception')], console
