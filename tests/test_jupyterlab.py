"""JupyterLab as people use it: `jupyter lab` on 127.0.0.1 with a token, one notebook executed end to end through a real
Jupyter kernel (the server's REST API and kernel websocket, not nbdev's in-process runner), and the notebook page
loaded in headless Chromium."""
import asyncio, json, os, shutil, subprocess, sys, time, uuid
from pathlib import Path
import httpx, pytest, websockets
from conftest import ROOT, browse, free_port

NOTEBOOK = '00_sample.ipynb'     # run from nbs/, as a user opening the project's notebooks would


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    port, token = free_port(), uuid.uuid4().hex
    home = tmp_path_factory.mktemp('jupyter')
    env = {**os.environ, 'JUPYTER_CONFIG_DIR': str(home / 'config'), 'JUPYTER_RUNTIME_DIR': str(home / 'runtime'),
           'JUPYTERLAB_SETTINGS_DIR': str(home / 'settings'), 'JUPYTERLAB_WORKSPACES_DIR': str(home / 'workspaces')}
    proc = subprocess.Popen([str(Path(sys.executable).parent / 'jupyter'), 'lab', '--no-browser', '--ip', '127.0.0.1', '--port', str(port),
                             f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={ROOT / "nbs"}',
                             *(['--allow-root'] if os.geteuid() == 0 else [])],      # CI containers often run as root
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f'http://127.0.0.1:{port}'
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None: pytest.fail(f'jupyter lab exited: {proc.stdout.read()[-3000:]}')
        try:
            if httpx.get(f'{base}/api/status', params={'token': token}, timeout=2).status_code == 200: break
        except httpx.TransportError: pass
        time.sleep(0.3)
    else: proc.kill(); pytest.fail('jupyter lab did not start in 120 s')
    yield base, token
    proc.terminate()
    try: proc.wait(30)
    except subprocess.TimeoutExpired: proc.kill()


async def _execute(ws, code: str, timeout: float = 600) -> dict:
    "Send one execute_request on the kernel channels; return its execute_reply content and the error outputs."
    msg_id = uuid.uuid4().hex
    await ws.send(json.dumps({'header': {'msg_id': msg_id, 'msg_type': 'execute_request', 'username': 'test', 'session': 'test', 'version': '5.3'},
                              'parent_header': {}, 'metadata': {}, 'channel': 'shell', 'buffers': [],
                              'content': {'code': code, 'silent': False, 'store_history': True, 'user_expressions': {}, 'allow_stdin': False}}))
    errors, reply = [], None
    async with asyncio.timeout(timeout):
        while reply is None or errors is None:
            m = json.loads(await ws.recv())
            if m.get('parent_header', {}).get('msg_id') != msg_id: continue
            if m['msg_type'] == 'error': errors.append(f"{m['content']['ename']}: {m['content']['evalue']}")
            if m['msg_type'] == 'execute_reply': reply = m['content']; break
    return {'status': reply['status'], 'errors': errors}


async def _run_notebook(base: str, token: str, path: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=base, params={'token': token}) as c:
        r = await c.post('/api/sessions', json={'path': path, 'type': 'notebook', 'name': path, 'kernel': {'name': 'python3'}})
        r.raise_for_status()
        kid = r.json()['kernel']['id']
        cells = [''.join(x['source']) for x in json.loads((ROOT / 'nbs' / path).read_text())['cells'] if x['cell_type'] == 'code']
        results = []
        try:
            async with websockets.connect(f"{base.replace('http', 'ws')}/api/kernels/{kid}/channels?token={token}", max_size=None) as ws:
                for code in cells:
                    res = await _execute(ws, code)
                    results.append(res)
                    if res['status'] != 'ok': break
        finally:
            await c.delete(f'/api/sessions/{r.json()["id"]}')
        return results


def test_notebook_runs_end_to_end_in_a_real_kernel(lab):
    base, token = lab
    results = asyncio.run(_run_notebook(base, token, NOTEBOOK))
    n_code = sum(1 for x in json.loads((ROOT / 'nbs' / NOTEBOOK).read_text())['cells'] if x['cell_type'] == 'code')
    failed = [(i, r) for i, r in enumerate(results) if r['status'] != 'ok']
    assert not failed, failed
    assert len(results) == n_code


def test_notebook_page_loads_in_chromium(lab, chromium, tmp_path):
    base, token = lab
    shot = tmp_path / 'jupyterlab.png'
    dom, console = browse(f'{base}/lab/tree/{NOTEBOOK}?token={token}', screenshot=shot, wait_ms=15000, size=(1400, 1000), timeout=180)
    assert 'jp-LabShell' in dom or 'jupyterlab' in dom.lower(), dom[:1000]
    if os.environ.get('NLP_LIB_SCREENSHOTS'):
        Path(os.environ['NLP_LIB_SCREENSHOTS']).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ['NLP_LIB_SCREENSHOTS']) / shot.name)
