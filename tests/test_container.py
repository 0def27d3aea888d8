"""The service's container (Dockerfile, .dockerignore), checked without a Docker engine.

hadolint passes at level warning and above; the Dockerfile says what the service needs (slim Python, CPU torch, a non-root
user, port 8000, a health check, `nlp_lib serve "$ARTIFACT"`); the build context that .dockerignore leaves builds the
package; and the Dockerfile's own commands run in a fresh virtual environment: its `pip install` lines (the `base_python`
fixture's wheel and CPU torch, then the extras), its ENTRYPOINT on a small saved artifact given as a file:// URI, and its
HEALTHCHECK command, which exits 0 while the service answers and non-zero once it is stopped.
Where the image runs `python`, `pip` or `nlp_lib`, these run the fresh environment's; port 8000 becomes a free port on 127.0.0.1.
"""
import json, os, re, shlex, shutil, signal, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest
from conftest import free_port, run_checked

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def instructions(path=ROOT / 'Dockerfile') -> list[tuple[str, str]]:
    "The Dockerfile's instructions as (KEYWORD, arguments): comments dropped, continuation lines joined."
    text = re.sub(r'\\\n\s*', ' ', '\n'.join(l for l in path.read_text().splitlines() if not l.lstrip().startswith('#')))
    return [(l.split(None, 1)[0].upper(), l.split(None, 1)[1].strip()) for l in text.splitlines() if l.strip()]


def args_of(instrs, keyword: str) -> list[str]: return [a for k, a in instrs if k == keyword]


def defaults(instrs) -> dict[str, str]:
    "The build arguments' defaults and the ENV values (`KEY=VALUE` pairs), with ${ARG} references expanded."
    out = {}
    for k, a in instrs:
        if k in ('ARG', 'ENV'):
            for key, _, value in (p.partition('=') for p in shlex.split(a)):
                if value or k == 'ENV': out[key] = expand(value, out)
    return out


def expand(s: str, values: dict) -> str: return re.sub(r'\$\{(\w+)\}|\$(\w+)', lambda m: values.get(m[1] or m[2], m[0]), s)


def test_hadolint_passes():
    r = subprocess.run([str(BIN / 'hadolint'), '--failure-threshold', 'warning', '--no-color', str(ROOT / 'Dockerfile')],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    report = subprocess.run([str(BIN / 'hadolint'), '--no-fail', '-f', 'json', str(ROOT / 'Dockerfile')], capture_output=True, text=True, timeout=60)
    assert [f for f in json.loads(report.stdout) if f['level'] in ('error', 'warning')] == []


def test_dockerfile_says_what_the_service_needs():
    ins = instructions()
    assert re.fullmatch(r'python:3\.\d+-slim', args_of(ins, 'FROM')[0]), args_of(ins, 'FROM')
    v = defaults(ins)
    assert v['ARTIFACT'] and v['TORCH_VERSION'] == '2.13.0'               # the CPU torch of tests/conftest.py's base_python
    assert 'download.pytorch.org/whl/cpu' in args_of(ins, 'RUN')[0] and 'torch==${TORCH_VERSION}' in args_of(ins, 'RUN')[0]
    assert 'serve' in v['EXTRAS'].split(',')
    user = args_of(ins, 'USER')[-1]
    assert user not in ('root', '0') and ins.index(('USER', user)) < ins.index(next(i for i in ins if i[0] == 'ENTRYPOINT'))
    assert args_of(ins, 'EXPOSE') == ['8000']
    assert '/health' in args_of(ins, 'HEALTHCHECK')[0] and 'curl' not in args_of(ins, 'HEALTHCHECK')[0]
    entry = json.loads(args_of(ins, 'ENTRYPOINT')[0])
    assert 'exec nlp_lib serve "$ARTIFACT" --host 0.0.0.0 --port 8000' in entry[2]


def test_build_context_builds_the_package(tmp_path):
    "What .dockerignore leaves in the context (its `!` lines, after `*`) holds every COPY source and builds the wheel."
    lines = [l.strip() for l in (ROOT / '.dockerignore').read_text().splitlines() if l.strip() and not l.startswith('#')]
    assert lines[0] == '*'
    ctx = tmp_path / 'context'
    ctx.mkdir()
    for keep in (l[1:].rstrip('/') for l in lines if l.startswith('!')):
        src = ROOT / keep
        if src.is_dir(): shutil.copytree(src, ctx / keep, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else: shutil.copy2(src, ctx / keep)
    for copy in args_of(instructions(), 'COPY'):
        for src in copy.split()[:-1]: assert (ctx / src).exists(), f'COPY {src}: not in the build context'
    run_checked([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path / 'dist'), str(ctx)], timeout=300)
    import zipfile
    names = zipfile.ZipFile(next((tmp_path / 'dist').glob('nlp_lib-*.whl'))).namelist()
    assert 'nlp_lib/api.py' in names and 'nlp_lib/inference/processor.py' in names


@pytest.fixture(scope='module')
def serve_python(base_python, wheel):
    """`base_python` with the Dockerfile's `pip install` lines run in it: torch's as written less `--index-url` (this machine's pip
    configuration has the CPU wheel), then the package with the Dockerfile's extras (the wheel standing in for the copied source)."""
    ins = instructions()
    v = defaults(ins)
    pips = [expand(a, v) for a in args_of(ins, 'RUN') if a.startswith('pip install')]
    assert len(pips) == 2, pips
    torch_line = re.sub(r'\s--index-url\s+\S+', '', pips[0])
    run_checked([str(base_python), '-m', *shlex.split(torch_line)], timeout=600)
    m = re.search(r'"/tmp/src\[([\w,]+)\]"', pips[1])
    assert m, pips[1]
    run_checked([str(base_python), '-m', 'pip', 'install', '--no-cache-dir', '-q', f'{wheel}[{m[1]}]'], timeout=900)
    return base_python


@pytest.fixture(scope='module')
def small_artifact(tmp_path_factory):
    from nlp_lib.datasets import data_dir, read_tsv
    from nlp_lib.inference.processor import Processor
    texts, labels = read_tsv(data_dir('sst2') / 'train.tsv', limit=2000)
    proc = Processor.from_corpus(texts, labels, 'nlp_lib.TextCNN.v1', {'emb_dim': 32, 'n_filters': 16}, seed=3, label_names=['negative', 'positive'])
    return proc.save(tmp_path_factory.mktemp('container') / 'artifact')


def _get(url: str, timeout=2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r: return r.status
    except OSError: return 0


def test_entrypoint_and_healthcheck_run_in_a_fresh_environment(serve_python, small_artifact, tmp_path):
    ins = instructions()
    v = defaults(ins)
    port = free_port()
    local = lambda s: s.replace('0.0.0.0', '127.0.0.1').replace('8000', str(port))
    entry = [local(a) for a in json.loads(args_of(ins, 'ENTRYPOINT')[0])]
    health = re.fullmatch(r'(--\S+\s+)*CMD\s+(\[.*\])', args_of(ins, 'HEALTHCHECK')[0])
    health_cmd = [local(a) for a in json.loads(health[2])]
    env = {k: val for k, val in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV', 'NLP_LIB_API_KEY')}
    env.update({k: val for k, val in v.items() if k in ('PYTHONUNBUFFERED',)})
    env.update(PATH=f"{serve_python.parent}{os.pathsep}{env['PATH']}", HOME=str(tmp_path), NLP_LIB_CACHE=str(tmp_path / 'cache'),
               ARTIFACT=Path(small_artifact).resolve().as_uri())            # a file:// URI, as the image accepts
    assert shutil.which('nlp_lib', path=env['PATH']) == str(serve_python.parent / 'nlp_lib')
    log = open(tmp_path / 'serve.log', 'w+')
    server = subprocess.Popen(entry, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while _get(f'http://127.0.0.1:{port}/ready') != 200:
            assert server.poll() is None, f'the server exited with {server.returncode}:\n{(tmp_path / "serve.log").read_text()}'
            assert time.monotonic() < deadline, 'not ready in 180 s:\n' + (tmp_path / 'serve.log').read_text()
            time.sleep(0.2)
        assert _get(f'http://127.0.0.1:{port}/health') == 200
        r = subprocess.run(health_cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        req = urllib.request.Request(f'http://127.0.0.1:{port}/predict', data=json.dumps({'texts': ['a gripping film', 'a dull mess']}).encode(),
                                     headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(req, timeout=30) as resp: preds = json.loads(resp.read())['predictions']
        assert len(preds) == 2 and {p['label'] for p in preds} <= {'negative', 'positive'}
    finally:
        if server.poll() is None: os.killpg(server.pid, signal.SIGTERM)
        try: code = server.wait(60)
        except subprocess.TimeoutExpired: os.killpg(server.pid, signal.SIGKILL); code = server.wait()
    out = (tmp_path / 'serve.log').read_text()
    assert code in (0, -signal.SIGTERM) and 'Application shutdown complete' in out and 'Traceback' not in out, out   # exec: SIGTERM reached uvicorn
    r = subprocess.run(health_cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0                                          # the health check notices a stopped service
