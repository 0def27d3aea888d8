"""End to end: `nlp_lib serve` as a real uvicorn process on 127.0.0.1, spoken to over HTTP, stopped with SIGTERM.

The endpoint-by-endpoint and bad-input tests run through FastAPI's test client in `nbs/clients/21_api.ipynb`;
these check what only a real server shows: the console script starts it, requests cross a socket, several
workers each load the model and share their metrics, SIGTERM lets an in-flight request finish, and a worker killed
with SIGKILL under load is replaced while the service keeps answering.
"""
import os, signal, subprocess, sys, threading, time
from pathlib import Path
import httpx
import pytest
from conftest import free_port

NLP_LIB = Path(sys.executable).parent / 'nlp_lib'


@pytest.fixture(scope='module')
def small_artifact(tmp_path_factory):
    from nlp_lib.datasets import data_dir, read_tsv
    from nlp_lib.inference.processor import Processor
    texts, labels = read_tsv(data_dir('sst2') / 'train.tsv', limit=2000)
    proc = Processor.from_corpus(texts, labels, 'nlp_lib.TextCNN.v1', {'emb_dim': 32, 'n_filters': 16}, seed=3, label_names=['negative', 'positive'])
    return proc, proc.save(tmp_path_factory.mktemp('serve') / 'artifact')


def mrpc_rows(n: int = 300) -> list[list[str]]:
    "The first `n` rows of MRPC's training file (BOM, CRLF): Quality, #1 ID, #2 ID, #1 String, #2 String."
    from nlp_lib.datasets import data_dir
    lines = (data_dir('mrpc') / 'train.tsv').read_text(encoding='utf-8-sig').splitlines()
    assert lines[0].split('\t') == ['Quality', '#1 ID', '#2 ID', '#1 String', '#2 String'], lines[0]
    return [l.split('\t') for l in lines[1:n + 1]]


def goemotions_rows(n: int = 300) -> tuple[list[list[str]], list[str]]:
    "The first `n` rows of GoEmotions' training file (no header: text, comma-separated label ids, comment id), and the label names."
    from nlp_lib.datasets import data_dir
    d = data_dir('goemotions')
    rows = [l.split('\t') for l in (d / 'train.tsv').read_text(encoding='utf-8').splitlines()[:n]]
    return rows, (d / 'labels.txt').read_text(encoding='utf-8').splitlines()


@pytest.fixture(scope='module')
def pair_artifact(tmp_path_factory):
    "An untrained text-pair processor (MRPC paraphrase pairs), saved; and its rows."
    from nlp_lib.inference.processor import Processor
    rows = mrpc_rows()
    proc = Processor.from_corpus([r[3] for r in rows], [r[0] for r in rows], 'nlp_lib.SWEM.v1', {'emb_dim': 16, 'hidden': 0}, seed=1,
                                 pairs=[r[4] for r in rows], label_names=['different', 'paraphrase'])
    return proc, proc.save(tmp_path_factory.mktemp('serve-pairs') / 'artifact'), rows


@pytest.fixture(scope='module')
def multilabel_artifact(tmp_path_factory):
    "An untrained multi-label processor (GoEmotions label sets, emotions as display names), saved; and its rows."
    from nlp_lib.inference.labels import Labels
    from nlp_lib.inference.processor import Processor
    rows, emotions = goemotions_rows()
    sets = [r[1].split(',') if r[1] else [] for r in rows]
    proc = Processor.from_corpus([r[0] for r in rows], sets, 'nlp_lib.SWEM.v1', {'emb_dim': 16, 'hidden': 0}, seed=1,
                                 label_names=[emotions[int(i)] for i in Labels.from_sets(sets).raw])
    return proc, proc.save(tmp_path_factory.mktemp('serve-multi') / 'artifact'), rows


class Server:
    "`nlp_lib serve` in a child process; its log is read as it comes (`lines`: time, line); `stop()` sends SIGTERM and returns the exit status and the log."
    def __init__(self, artifact, *flags, env=None):
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.proc = subprocess.Popen([str(NLP_LIB), 'serve', str(artifact), '--port', str(self.port), *flags],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
        self.lines: list[tuple[float, str]] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend((time.monotonic(), l) for l in self.proc.stdout), daemon=True)
        self.reader.start()

    @property
    def log(self) -> str: return ''.join(l for _, l in self.lines)

    def wait_ready(self, timeout=120, headers=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None: self.reader.join(5); pytest.fail(f'server exited with {self.proc.returncode}:\n{self.log}')
            try:
                if httpx.get(self.url + '/ready', timeout=2, headers=headers).status_code == 200: return self
            except httpx.TransportError: pass
            time.sleep(0.1)
        self.stop(); pytest.fail('server not ready in time')

    def wait_log(self, text, count=1, timeout=90) -> float:
        "Wait until `text` has appeared `count` times in the log; the time it last appeared."
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [t for t, l in list(self.lines) if text in l]
            if len(hits) >= count: return hits[count - 1]
            time.sleep(0.05)
        pytest.fail(f'{text!r} did not appear {count} times in {timeout} s:\n{self.log}')

    def workers(self) -> list[int]:
        "Pids of the worker processes (children started by multiprocessing's spawn), from /proc."
        pids = []
        for d in Path('/proc').iterdir():
            if not d.name.isdigit(): continue
            try:
                ppid = int((d / 'stat').read_text().rsplit(')', 1)[1].split()[1])
                cmd = (d / 'cmdline').read_bytes()
            except (OSError, ValueError, IndexError): continue
            if ppid == self.proc.pid and b'spawn_main' in cmd and b'resource_tracker' not in cmd: pids.append(int(d.name))
        return sorted(pids)

    def stop(self, timeout=60):
        "SIGTERM, then the exit status and the log. Uvicorn re-raises the signal after its graceful shutdown, so a clean stop is -SIGTERM."
        if self.proc.poll() is None: self.proc.send_signal(signal.SIGTERM)
        try: code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired: self.proc.kill(); code = self.proc.wait()
        self.reader.join(10)
        return code, self.log


def test_real_server_answers_over_http(small_artifact):
    proc, art = small_artifact
    s = Server(art).wait_ready()
    try:
        texts = ['a gripping, funny film', 'a dull mess', 'ok']
        r = httpx.post(s.url + '/predict', json={'text': texts[0]})
        assert r.status_code == 200 and r.json()['predictions'][0]['label'] == proc(texts[0]).label
        r = httpx.post(s.url + '/predict', json={'texts': texts})
        assert [p['label'] for p in r.json()['predictions']] == [x.label for x in proc.predict(texts)]
        assert httpx.get(s.url + '/health').json() == {'status': 'ok'}
        assert httpx.get(s.url + '/model').json()['labels']['names'] == ['negative', 'positive']
        assert r.json()['predictions'][0]['labels'] is None          # a single-label model: no label set
        assert httpx.get(s.url + '/model').json()['task'] == {'multi_label': False, 'pair': False}
        r = httpx.post(s.url + '/predict', content=b'{"text": ', headers={'content-type': 'application/json'})
        assert r.status_code == 422 and r.json()['error'] == 'invalid JSON'
        r = httpx.post(s.url + '/predict', json={'texts': ['a'] * 257})
        assert r.status_code == 413 and r.json()['limit'] == 'max_texts'
        metrics = httpx.get(s.url + '/metrics').text
        assert 'nlp_lib_http_requests_total{route="/predict",status="200"} 2.0' in metrics
        assert 'nlp_lib_http_requests_total{route="/predict",status="413"} 1.0' in metrics
    finally:
        code, log = s.stop()
    assert code in (0, -signal.SIGTERM) and 'Application shutdown complete' in log, log
    assert 'Traceback' not in log, log



def test_a_pair_model_over_http(pair_artifact):
    "A text-pair artifact: one pair and a list of pairs answer as the processor does; single texts get a 422 naming the field."
    proc, art, rows = pair_artifact
    s = Server(art, '--max-chars', '400', '--max-texts', '8').wait_ready()
    try:
        a, b = rows[0][3], rows[0][4]
        r = httpx.post(s.url + '/predict', json={'text': a, 'text_pair': b})
        assert r.status_code == 200, r.text
        p = r.json()['predictions'][0]
        assert (p['label'], p['labels']) == (proc((a, b)).label, None) and abs(p['score'] - proc((a, b)).score) < 1e-6
        pairs = [(x[3], x[4]) for x in rows[:8]]
        r = httpx.post(s.url + '/predict', json={'pairs': [{'text': x, 'text_pair': y} for x, y in pairs]})
        assert [q['label'] for q in r.json()['predictions']] == [x.label for x in proc.predict(pairs)]
        assert httpx.post(s.url + '/predict', json={'text': a, 'text_pair': b, 'debug': True}).json()['samples'][0]['text_pair'] == b

        for body, field in [({'text': a}, 'text_pair'), ({'texts': [a, b]}, 'texts')]:
            r = httpx.post(s.url + '/predict', json=body)
            err = r.json()
            assert r.status_code == 422 and err['error'].startswith(f'{field}: this model classifies text pairs'), err
            assert 'text_pair' in err['error'] and err['detail'][0]['loc'] == ['body', field], err
        r = httpx.post(s.url + '/predict', json={'text': a, 'text_pair': 'x' * 401})
        assert r.status_code == 413 and r.json()['limit'] == 'max_chars' and r.json()['error'].startswith('text_pair has 401 characters'), r.text
        r = httpx.post(s.url + '/predict', json={'pairs': [{'text': a, 'text_pair': b}] * 9})
        assert r.status_code == 413 and r.json()['limit'] == 'max_texts', r.text

        info = httpx.get(s.url + '/model').json()
        assert (info['task'], info['thresholds']) == ({'multi_label': False, 'pair': True}, None)
        req = httpx.get(s.url + '/openapi.json').json()['components']['schemas']['PredictRequest']
        assert set(req['properties']) == {'text', 'text_pair', 'pairs', 'debug'}, req['properties']
        assert req['properties']['text_pair']['maxLength'] == 400 and req['properties']['pairs']['maxItems'] == 8
    finally:
        code, log = s.stop()
    assert 'Traceback' not in log, log


def test_a_multi_label_model_over_http(multilabel_artifact):
    "A multi-label artifact: every prediction carries its label set with scores, at the thresholds `/model` lists; a pair gets a 422."
    proc, art, rows = multilabel_artifact
    s = Server(art).wait_ready()
    try:
        info = httpx.get(s.url + '/model').json()
        assert info['task'] == {'multi_label': True, 'pair': False}
        assert info['thresholds'] == dict.fromkeys(proc.labels.names, 0.5)
        texts = [r[0] for r in rows[:16]]
        got = httpx.post(s.url + '/predict', json={'texts': texts}).json()['predictions']
        for g, e in zip(got, proc.predict(texts), strict=True):
            assert [x['label'] for x in g['labels']] == [x.label for x in e.labels]
            assert all(abs(x['score'] - y.score) < 1e-6 for x, y in zip(g['labels'], e.labels))
            assert {x['label'] for x in g['labels']} == {k for k, v in g['probs'].items() if v >= info['thresholds'][k]}
            scores = [x['score'] for x in g['labels']]
            assert scores == sorted(scores, reverse=True)
            assert (g['label'], g['score']) == (g['top_k'][0]['label'], g['top_k'][0]['score'])
        assert any(g['labels'] for g in got)                          # an untrained model at 0.5: some labels pass
        r = httpx.post(s.url + '/predict', json={'text': 'so happy', 'text_pair': 'me too'})
        assert r.status_code == 422 and r.json()['error'] == 'text_pair: this model classifies single texts: leave out text_pair', r.text
        r = httpx.post(s.url + '/predict', json={'pairs': [{'text': 'so happy', 'text_pair': 'me too'}]})
        assert r.status_code == 422 and r.json()['detail'][0]['loc'] == ['body', 'pairs'], r.text
        schemas = httpx.get(s.url + '/openapi.json').json()['components']['schemas']
        assert set(schemas['PredictRequest']['properties']) == {'text', 'texts', 'debug'}
        assert 'every label at or above its threshold' in schemas['Prediction']['properties']['labels']['description']
    finally:
        code, log = s.stop()
    assert 'Traceback' not in log, log


def test_sigterm_drains_in_flight_requests(small_artifact):
    proc, art = small_artifact
    s = Server(art, '--max-body-bytes', '8000000').wait_ready()
    texts = [('a long and winding review of a film that goes on ' * 200)[:8000]] * 256   # debug on 256 long texts: a request that takes a while
    result = {}
    def slow():
        t0 = time.monotonic()
        r = httpx.post(s.url + '/predict', json={'texts': texts, 'debug': True}, timeout=120)
        result.update(status=r.status_code, n=len(r.json().get('samples') or []), seconds=time.monotonic() - t0)
    t = threading.Thread(target=slow); t.start()
    in_flight = 0
    while t.is_alive() and in_flight < 2:           # the slow request and this /metrics request: it is being handled
        m = httpx.get(s.url + '/metrics').text
        in_flight = float(next(l.split()[-1] for l in m.splitlines() if l.startswith('nlp_lib_http_requests_in_flight ')))
    assert in_flight >= 2 and t.is_alive(), f'the request finished before SIGTERM ({result}); make it slower'
    code, log = s.stop()
    t.join(120)
    assert result.get('status') == 200 and result['n'] == 256, (result, log)
    assert code in (0, -signal.SIGTERM) and 'Application shutdown complete' in log, log
    with pytest.raises(httpx.TransportError): httpx.get(s.url + '/health', timeout=2)


def test_workers_load_the_model_each_and_share_metrics(small_artifact):
    proc, art = small_artifact
    s = Server(art, '--workers', '2').wait_ready()
    try:
        for _ in range(20):
            r = httpx.post(s.url + '/predict', json={'text': 'fine'}, headers={'connection': 'close'})
            assert r.status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:              # both workers have answered /ready at least once: each loaded the model
            metrics = httpx.get(s.url + '/metrics', headers={'connection': 'close'}).text
            if 'nlp_lib_http_requests_total{route="/predict",status="200"} 20.0' in metrics: break
            time.sleep(0.2)
        assert 'nlp_lib_http_requests_total{route="/predict",status="200"} 20.0' in metrics, metrics[:3000]
    finally:
        code, log = s.stop()
    assert code in (0, -signal.SIGTERM), log
    assert log.count('Application startup complete') == 2, log


def test_a_killed_worker_is_replaced_and_the_service_keeps_answering(small_artifact):
    """Two workers under load from 4 keep-alive clients. SIGKILL one: the other keeps answering, the supervisor starts a
    replacement, which takes connections only once its model is loaded (no 503). Then SIGKILL the other original worker:
    the replacement answers alone until the second replacement is up. A kill may fail the requests in flight on the dead
    worker's connections (at most one per client), nothing else."""
    proc, art = small_artifact
    s = Server(art, '--workers', '2').wait_ready()
    results, stop = [], threading.Event()          # (time, status or the transport error's name)
    def client():
        with httpx.Client(timeout=20) as c:
            while not stop.is_set():
                try: r = c.post(s.url + '/predict', json={'text': 'a gripping, funny film'}).status_code
                except httpx.TransportError as e: r = type(e).__name__
                results.append((time.monotonic(), r))
    threads = [threading.Thread(target=client) for _ in range(4)]
    try:
        s.wait_log('Application startup complete', 2)
        first = s.workers()
        assert len(first) == 2, (first, s.log)
        for t in threads: t.start()
        time.sleep(1)
        t_kill1 = time.monotonic(); os.kill(first[0], signal.SIGKILL)
        t_up1 = s.wait_log('Application startup complete', 3)
        second = s.workers()
        replacement = set(second) - set(first)
        time.sleep(1)
        t_kill2 = time.monotonic(); os.kill(first[1], signal.SIGKILL)
        t_up2 = s.wait_log('Application startup complete', 4)
        time.sleep(1.5)
        t_end = time.monotonic()
        stop.set()
        for t in threads: t.join(30)
        final = s.workers()
    finally:
        stop.set()
        code, log = s.stop()
    assert f'Child process [{first[0]}] died' in log and f'Child process [{first[1]}] died' in log, log
    assert len(replacement) == 1 and first[1] in second, (first, second)
    assert len(final) == 2 and not set(final) & set(first), (first, final)
    ok = lambda a, b: sum(1 for t, r in results if a <= t < b and r == 200)
    failed = [(round(t - t_kill1, 2), r) for t, r in results if r != 200]
    assert len(failed) <= 2 * len(threads), failed                   # at most the in-flight requests of each kill
    assert all(r in ('RemoteProtocolError', 'ReadError', 'ConnectError', 'WriteError') for _, r in failed), failed   # never a 5xx or a 503
    assert ok(t_kill1, t_up1) > 0, 'nothing answered while the first replacement started'
    assert ok(t_kill2, t_up2) > 0, 'the first replacement did not answer alone'
    assert ok(t_up2 + 0.5, t_end) > 0 and not [r for t, r in results if t >= t_up2 + 0.5 and r != 200], failed
    print(f'{len(results)} requests, {len(failed)} failed (all at a kill): {failed}; replacement started in '
          f'{t_up1 - t_kill1:.1f} s and {t_up2 - t_kill2:.1f} s')
