"""Smoke-test a saved model as a service: start `nlp_lib serve` on it, wait for /ready, POST /predict, check the answer, stop the server.

    python smoke.py (--artifact PATH_OR_URI | --artifact-from FILE) [--timeout S] [--out smoke.json] TEXT [TEXT ...]

`--artifact-from FILE` serves the last non-blank line of FILE (what `nlp_lib push` printed: the version URI).
The whole check is bounded by --timeout, and the server is always stopped (SIGTERM, then SIGKILL of its process group),
also when this script is interrupted. Only the standard library: it runs wherever `nlp_lib serve` does.
Sends `Authorization: Bearer $NLP_LIB_API_KEY` when that is set (the server reads the same variable).
Exit 0 and a JSON summary in --out when every answer is right; exit 1 with the reasons and the server's log otherwise.
"""
import argparse, json, math, os, shlex, signal, socket, subprocess, sys, tempfile, time, urllib.error, urllib.request
from pathlib import Path


class SmokeError(Exception): "The service did not answer as it should."


def free_port(host: str = '127.0.0.1') -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def call(url: str, body=None, timeout: float = 10.0) -> tuple[int, object]:
    "GET `url` (POST `body` as JSON when given): the status and the decoded JSON answer (None when it is not JSON)."
    headers = {'Content-Type': 'application/json'} if body is not None else {}
    if os.environ.get('NLP_LIB_API_KEY'): headers['Authorization'] = f"Bearer {os.environ['NLP_LIB_API_KEY']}"
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r: status, raw = r.status, r.read()
    except urllib.error.HTTPError as e: status, raw = e.code, e.read()
    try: return status, json.loads(raw)
    except ValueError: return status, None


def wait_ready(server: subprocess.Popen, url: str, deadline: float) -> float:
    "Poll /ready until it answers 200; the seconds it took. Fails when the server exits or the deadline passes."
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        if server.poll() is not None: raise SmokeError(f'the server exited with status {server.returncode} before it was ready')
        try:
            if call(url + '/ready', timeout=2)[0] == 200: return time.monotonic() - t0
        except OSError: pass                      # not listening yet
        time.sleep(0.2)
    raise SmokeError('the server was not ready before the timeout')


def check_answer(texts: list[str], status: int, answer, labels: list[str]) -> list[str]:
    "What is wrong with the /predict answer for `texts`, one line each (empty: it is right)."
    if status != 200: return [f'POST /predict answered {status}: {answer}']
    preds = answer.get('predictions') if isinstance(answer, dict) else None
    if not isinstance(preds, list) or len(preds) != len(texts): return [f'expected {len(texts)} predictions, got {answer}']
    out = []
    for i, p in enumerate(preds):
        probs = p.get('probs') or {}
        if sorted(probs) != sorted(labels): out.append(f'prediction {i}: probs for {sorted(probs)}, the model has labels {sorted(labels)}')
        if not (p.get('abstained') or p.get('label') in labels): out.append(f"prediction {i}: label {p.get('label')!r} is not one of {labels}")
        if not (isinstance(p.get('score'), (int, float)) and 0 <= p['score'] <= 1): out.append(f"prediction {i}: score {p.get('score')!r} outside [0, 1]")
        if p.get('labels') is None and probs and not math.isclose(sum(probs.values()), 1, abs_tol=1e-3):
            out.append(f'prediction {i}: probabilities sum to {sum(probs.values())}, not 1')
    return out


def stop(server: subprocess.Popen, grace: float = 20.0) -> int:
    "SIGTERM to the server's process group (its workers too), SIGKILL after `grace` seconds; its exit status."
    if server.poll() is None:
        try: os.killpg(server.pid, signal.SIGTERM)
        except ProcessLookupError: pass
        try: server.wait(grace)
        except subprocess.TimeoutExpired:
            try: os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError: pass
            server.wait()
    return server.returncode


def smoke(artifact: str, texts: list[str], timeout: float = 180.0, nlp_lib: str = 'nlp_lib', host: str = '127.0.0.1') -> dict:
    "Serve `artifact`, check /health, /ready, /model and /predict on `texts`; a summary. Raises `SmokeError` with the server's log."
    deadline = time.monotonic() + timeout
    port = free_port(host)
    url = f'http://{host}:{port}'
    cmd = [*shlex.split(nlp_lib), 'serve', artifact, '--host', host, '--port', str(port)]
    with tempfile.TemporaryFile('w+') as log:
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            ready_s = wait_ready(server, url, deadline)
            left = lambda: max(1.0, deadline - time.monotonic())
            status, health = call(url + '/health', timeout=left())
            if status != 200 or health != {'status': 'ok'}: raise SmokeError(f'GET /health answered {status}: {health}')
            status, model = call(url + '/model', timeout=left())
            if status != 200: raise SmokeError(f'GET /model answered {status}: {model}')
            labels = model['labels']['names']
            t0 = time.monotonic()
            status, answer = call(url + '/predict', {'texts': texts}, timeout=left())
            predict_s = time.monotonic() - t0
            if wrong := check_answer(texts, status, answer, labels): raise SmokeError('\n'.join(wrong))
        except (SmokeError, OSError) as e:
            stop(server)
            log.seek(0)
            raise SmokeError(f'{e}\n--- {" ".join(cmd)} ---\n{log.read()[-4000:]}') from None
        finally: code = stop(server)
    return {'artifact': artifact, 'url': url, 'ready_s': round(ready_s, 2), 'predict_s': round(predict_s, 3), 'labels': labels,
            'predictions': [{'text': t, 'label': p['label'], 'score': p['score']} for t, p in zip(texts, answer['predictions'])],
            'server_exit': code, 'passed': True}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--artifact', help='the artifact to serve: a directory or a URI nlp_lib serve reads')
    src.add_argument('--artifact-from', help='a file whose last non-blank line is the artifact (the output of nlp_lib push)')
    p.add_argument('--timeout', type=float, default=180.0, help='seconds for the whole check (default 180)')
    p.add_argument('--nlp-lib', default='nlp_lib', help='the nlp_lib command (default: nlp_lib on PATH)')
    p.add_argument('--out', help='JSON summary to write when the check passes')
    p.add_argument('texts', nargs='+', help='texts to classify')
    a = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))     # killed by snakemake or a timeout: still stop the server (finally)
    artifact = a.artifact
    if a.artifact_from:
        lines = [l.strip() for l in Path(a.artifact_from).read_text().splitlines() if l.strip()]
        if not lines: print(f'{a.artifact_from} names no artifact', file=sys.stderr); return 1
        artifact = lines[-1]
    try: res = smoke(artifact, a.texts, a.timeout, a.nlp_lib)
    except SmokeError as e: print(f'smoke test failed: {e}', file=sys.stderr); return 1
    if a.out: Path(a.out).write_text(json.dumps(res, indent=2) + '\n')
    print(f"smoke test passed: {artifact} ready in {res['ready_s']} s; " + '; '.join(f"{x['label']} {x['score']:.3f}" for x in res['predictions']))
    return 0


if __name__ == '__main__': sys.exit(main())
