"""`mlflow models serve` of a registered nlp_lib model: loaded by alias from a SQLite registry, answering `/invocations` as the model does in-process."""
import json, os, signal, subprocess, sys, time, urllib.error, urllib.request
from pathlib import Path
import pytest
from conftest import free_port

pytest.importorskip('mlflow')
MLFLOW = Path(sys.executable).parent / 'mlflow'


@pytest.fixture(scope='module')
def registry(tmp_path_factory):
    "A SQLite MLflow store with the small SST-2 TextCNN registered as `sst2`, alias `champion`; its URI, the processor and some dev texts."
    import mlflow
    from nlp_lib.datasets import data_dir, read_tsv
    from nlp_lib.inference.processor import Processor
    from nlp_lib.mlflow import register_run
    tmp = tmp_path_factory.mktemp('mlflow-serve')
    texts, labels = read_tsv(data_dir('sst2') / 'train.tsv', limit=2000)
    proc = Processor.from_corpus(texts, labels, 'nlp_lib.TextCNN.v1', {'emb_dim': 32, 'n_filters': 16}, seed=3, label_names=['negative', 'positive'])
    artifact = proc.save(tmp / 'artifact')
    uri = f'sqlite:///{tmp}/mlflow.db'
    before = mlflow.get_tracking_uri()
    mv = register_run(artifact, 'sst2', alias='champion', tracking_uri=uri)
    assert mlflow.get_tracking_uri() == before
    assert mv.aliases == ['champion']
    dev, _ = read_tsv(data_dir('sst2') / 'dev.tsv')
    return uri, proc, dev[:64], tmp


def _wait(url: str, proc: subprocess.Popen, timeout: float = 150) -> None:
    "Poll `url` until it answers 200; fail early when the server exits, and after `timeout` seconds."
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None: pytest.fail(f'mlflow models serve exited with {proc.returncode}:\n{proc.stdout.read()[-4000:]}')
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200: return
        except (urllib.error.URLError, ConnectionError, TimeoutError): pass
        time.sleep(0.5)
    pytest.fail(f'mlflow models serve did not answer {url} within {timeout} s')


def _post(url: str, payload: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=60) as r: return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e: return e.code, json.loads(e.read() or b'{}')


def test_serve_registered_model(registry):
    uri, proc, texts, tmp = registry
    port = free_port()
    env = {**os.environ, 'MLFLOW_TRACKING_URI': uri, 'MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR': 'false'}
    server = subprocess.Popen([str(MLFLOW), 'models', 'serve', '-m', 'models:/sst2@champion', '--env-manager', 'local',
                               '--host', '127.0.0.1', '--port', str(port), '--workers', '1'],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp, start_new_session=True)   # its own process group: the workers go with it
    try:
        base = f'http://127.0.0.1:{port}'
        _wait(f'{base}/ping', server)
        status, body = _post(f'{base}/invocations', {'dataframe_split': {'columns': ['text'], 'data': [[t] for t in texts]}})
        assert status == 200, body
        got = body['predictions']
        ref = proc.predict(texts)
        assert [p['label'] for p in got] == [s.label for s in ref]
        assert [p['score'] for p in got] == pytest.approx([float(s.score) for s in ref], abs=1e-6)
        status, body = _post(f'{base}/invocations', {'dataframe_split': {'columns': ['text'], 'data': [[t] for t in texts]}, 'params': {'batch_size': 5}})
        assert status == 200 and [p['label'] for p in body['predictions']] == [s.label for s in ref], body
        status, body = _post(f'{base}/invocations', {'dataframe_split': {'columns': ['sentence'], 'data': [['a fine film']]}})
        assert status == 400 and 'text' in body.get('message', ''), (status, body)       # the signature names the missing column
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try: server.wait(timeout=20)
        except subprocess.TimeoutExpired: os.killpg(server.pid, signal.SIGKILL); server.wait(timeout=10)
