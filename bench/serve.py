"""HTTP serving benchmark: `nlp_lib serve` beside a no-op FastAPI endpoint and a hand-written one, driven by wrk.

    python bench/serve.py [--artifact DIR] [--duration 10] [--rounds 3]

Loopback only (127.0.0.1), bounded in time: every server runs in its own process under the same uvicorn settings
(one worker, uvloop + httptools, no access log); wrk (a C load generator: it takes far less of the 2 cores than a
Python one would) sends POST /predict with SST-2 dev sentences, one per request, over 32 connections. Rounds run
the servers in turn, and the table shows medians over rounds.

Rows:
- no-op: `async def predict(): return <constant>` — the framework's ceiling on this machine;
- hand-written: a plain FastAPI endpoint calling `Processor.__call__` per request (what a user would write first);
- nlp_lib serve: the real `nlp_lib serve ARTIFACT` (adaptive batching on, the default), and with `--no-batching`;
- nlp_lib serve --model-threads 2: two threads running model batches, one torch thread each;
- nlp_lib serve with the fast recipe, when --fast-artifact is given or .bench-cache/fast-artifact exists.
Then batch requests of 64 texts (8 connections) against `nlp_lib serve`, beside in-process `Processor.predict` measured
as bench/inference.py measures it (SST-2 dev x4 in one call, batch_size=256, torch's default threads, median of 5),
and on the same 64-text batches (torch's default threads, and one thread).

Targets (issue 22): single-text requests/s >= 0.6x the no-op's and >= 2x the hand-written endpoint's, p99 <= 2x the
no-op's, no non-2xx answer; batch-64 texts/s >= 0.8x the in-process figure of bench/inference.py.

Without --artifact, the default recipe is trained first (`nlp_lib train`, a few minutes) unless
.bench-cache/default-artifact exists.
"""
from __future__ import annotations
import argparse, json, shutil, statistics, subprocess, sys, tempfile, textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import Server, bench_inputs, lua_script, rss_mb, run_wrk  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / '.bench-cache'
PY = sys.executable
NLP_LIB = Path(PY).parent / 'nlp_lib'
UVICORN_FLAGS = ['--workers', '1', '--loop', 'uvloop', '--http', 'httptools', '--no-access-log', '--log-level', 'warning']

ANCHORS = textwrap.dedent('''
    import os
    from fastapi import FastAPI
    from pydantic import BaseModel

    noop = FastAPI()
    RESULT = {"predictions": [{"label": "positive", "score": 0.97, "probs": {"negative": 0.03, "positive": 0.97},
              "top_k": [{"label": "positive", "score": 0.97}, {"label": "negative", "score": 0.03}], "abstained": False}]}

    @noop.post("/predict")
    async def predict_noop():
        return RESULT

    class Req(BaseModel):
        text: str

    def _hand():
        from nlp_lib.inference.processor import Processor
        proc = Processor.load(os.environ["BENCH_ARTIFACT"])
        app = FastAPI()

        @app.post("/predict")
        def predict(req: Req):
            s = proc(req.text)
            return {"label": s.label, "score": s.score, "probs": dict(zip(proc.labels.names, s.probs.tolist()))}
        return app

    hand = _hand() if os.environ.get("BENCH_ARTIFACT") else None
''')


PATH_CPU = textwrap.dedent('''
    import asyncio, json, os, sys, time
    import uvloop
    kind, artifact, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    from nlp_lib.datasets import data_dir, read_tsv
    texts, _ = read_tsv(data_dir('sst2') / 'dev.tsv')
    bodies = [json.dumps({'text': t}).encode() for t in texts]
    if kind == 'noop':
        sys.path.insert(0, sys.argv[4]); from anchors import noop as app
    else:
        from nlp_lib.api import ServeSettings, create_app
        app = create_app(ServeSettings(artifact=artifact))

    async def call(body):
        scope = {'type': 'http', 'asgi': {'version': '3.0'}, 'http_version': '1.1', 'method': 'POST', 'scheme': 'http', 'path': '/predict',
                 'raw_path': b'/predict', 'query_string': b'', 'root_path': '', 'server': ('127.0.0.1', 8000), 'client': ('127.0.0.1', 50000),
                 'headers': [(b'host', b'127.0.0.1:8000'), (b'content-type', b'application/json'), (b'content-length', str(len(body)).encode())]}
        msgs = [{'type': 'http.request', 'body': body, 'more_body': False}]
        async def receive(): return msgs.pop() if msgs else await asyncio.sleep(3600)
        status = []
        async def send(m):
            if m['type'] == 'http.response.start': status.append(m['status'])
        await app(scope, receive, send)
        return status[0]

    async def main():
        async with app.router.lifespan_context(app):
            state = getattr(app.state, 'nlp', None)
            while state is not None and state.proc is None: await asyncio.sleep(0.01)
            if state is not None:                       # the model answers at once: what is left is the request path
                one = state.proc.predict(texts[:1])[0]
                state.batcher.predict = lambda xs: [one] * len(xs)
            n, stop = 0, False
            async def client(k):
                nonlocal n
                while not stop:
                    assert await call(bodies[k % len(bodies)]) == 200
                    n += 1; k += 32
                    await asyncio.sleep(0)
            for k in range(64): await call(bodies[k])
            c0, t0 = time.process_time(), time.perf_counter()
            tasks = [asyncio.create_task(client(k)) for k in range(32)]
            await asyncio.sleep(seconds); stop = True
            await asyncio.gather(*tasks)
            print(json.dumps({'cpu_us': (time.process_time() - c0) / n * 1e6, 'per_s': n / (time.perf_counter() - t0)}))
    uvloop.run(main())
''')


def request_path_cpu(kind: str, artifact: str, anchors_dir: Path, seconds: float = 3.0) -> float:
    "CPU microseconds per single-text request of the request path alone, in-process: the ASGI app called directly by 32 concurrent clients (no sockets, no wrk), the model's answer stubbed; `kind`: 'noop' or 'nlp_lib'; median of 3 fresh processes."
    runs = []
    for _ in range(3):
        r = subprocess.run([PY, '-c', PATH_CPU, kind, artifact, str(seconds), str(anchors_dir)], capture_output=True, text=True, timeout=300)
        if r.returncode: raise SystemExit(r.stderr)
        runs.append(json.loads(r.stdout.strip().splitlines()[-1])['cpu_us'])
    return statistics.median(runs)


def in_process_texts_per_s(artifact: str, bodies: list[list[str]], seconds: float, threads: int | None = None) -> float:
    "Texts/s of `Processor.predict` on the same 64-text batches, in a fresh process (median of 5 passes); `threads`: torch threads (None: torch's default)."
    code = textwrap.dedent(f'''
        import json, sys, time, gc, torch
        if {threads!r}: torch.set_num_threads({threads!r})
        from nlp_lib.inference.processor import Processor
        proc = Processor.load({artifact!r}); gc.collect(); gc.freeze()
        batches = json.loads(sys.stdin.read())
        proc.predict(batches[0])
        rates = []
        for _ in range(5):
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < {seconds / 5}:
                for b in batches[:20]: proc.predict(b, batch_size=64); n += len(b)
            rates.append(n / (time.perf_counter() - t0))
        rates.sort(); print(rates[2])
    ''')
    r = subprocess.run([PY, '-c', code], input=json.dumps(bodies), capture_output=True, text=True, timeout=600)
    if r.returncode: raise SystemExit(r.stderr)
    return float(r.stdout.strip().splitlines()[-1])


def in_process_like_inference_py(artifact: str, reps: int = 5) -> float:
    "Texts/s of `Processor.predict` as bench/inference.py measures its batch column: SST-2 dev x4 (3,488 texts) in one call, batch_size=256, torch's default threads, median of `reps` runs, in a fresh process."
    code = textwrap.dedent(f'''
        import statistics, time
        from nlp_lib.datasets import data_dir, read_tsv
        from nlp_lib.inference.processor import Processor
        proc = Processor.load({artifact!r})
        dev, _ = read_tsv(data_dir('sst2') / 'dev.tsv'); batch = dev * 4
        proc.predict(batch[:256], batch_size=256)
        times = []
        for _ in range({reps}):
            t0 = time.perf_counter(); proc.predict(batch, batch_size=256); times.append(time.perf_counter() - t0)
        print(len(batch) / statistics.median(times))
    ''')
    r = subprocess.run([PY, '-c', code], capture_output=True, text=True, timeout=600)
    if r.returncode: raise SystemExit(r.stderr)
    return float(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--artifact')
    ap.add_argument('--fast-artifact', help='also serve the fast recipe (default: .bench-cache/fast-artifact when it exists)')
    ap.add_argument('--duration', type=float, default=10.0, help='seconds of load per server and round')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--connections', type=int, default=32)
    a = ap.parse_args()
    texts, artifact = bench_inputs(a.artifact)
    tmp = Path(tempfile.mkdtemp(prefix='nlp_lib-serve-bench-'))
    (tmp / 'anchors.py').write_text(ANCHORS)
    single = lua_script([json.dumps({'text': t}) for t in texts], tmp / 'single.lua')
    batches = [texts[i:i + 64] for i in range(0, len(texts) - 63, 64)]
    batch = lua_script([json.dumps({'texts': b}) for b in batches], tmp / 'batch.lua')

    servers = {
        'no-op async FastAPI endpoint': (['-m', 'uvicorn', 'anchors:noop'], None, '/docs'),
        'hand-written FastAPI + Processor.__call__': (['-m', 'uvicorn', 'anchors:hand'], {'BENCH_ARTIFACT': artifact}, '/docs'),
        'nlp_lib serve (batching, default)': (None, None, '/ready'),
        'nlp_lib serve --no-batching': (None, None, '/ready'),
        'nlp_lib serve --model-threads 2': (None, None, '/ready'),
    }
    fast = a.fast_artifact or (str(CACHE / 'fast-artifact') if (CACHE / 'fast-artifact' / 'manifest.json').exists() else None)
    if fast: servers['nlp_lib serve, fast recipe (SWEM.v1)'] = (None, {'FAST': str(Path(fast).resolve())}, '/ready')
    results = {k: [] for k in servers}
    rss = {}
    warm = max(2.0, a.duration / 5)
    for rnd in range(a.rounds):
        for name, (cmd, env, ready) in servers.items():
            if cmd is None:
                flags = ['--no-batching'] if 'no-batching' in name else ['--model-threads', '2'] if 'model-threads' in name else []
                full = [str(NLP_LIB), 'serve', (env or {}).get('FAST', artifact), '--port', '{PORT}', *flags]
            else:
                full = [PY, *cmd, '--app-dir', str(tmp), '--port', '{PORT}', *UVICORN_FLAGS]
            s = Server(name, full, ready, env=env)
            try:
                run_wrk(s.url, single, warm, a.connections)
                before = rss_mb(s.proc.pid)
                r = run_wrk(s.url, single, a.duration, a.connections)
                r['rss_before'], r['rss_after'] = before, rss_mb(s.proc.pid)
                results[name].append(r)
            finally: s.stop()
            print(f'round {rnd + 1} {name}: {r["rps"]:.0f} req/s p50 {r["p50"]:.2f} ms p99 {r["p99"]:.2f} ms errors {r["errors"]}', file=sys.stderr, flush=True)

    batch_rates = []
    s = Server('batch', [str(NLP_LIB), 'serve', artifact, '--port', '{PORT}'], '/ready')
    try:
        run_wrk(s.url, batch, warm, 8)
        for _ in range(a.rounds):
            r = run_wrk(s.url, batch, a.duration / 2, 8)
            batch_rates.append((r['rps'] * 64, r['errors']))
    finally: s.stop()
    path_cpu = {k: request_path_cpu(k, artifact, tmp) for k in ('noop', 'nlp_lib')}
    in_proc_ref = in_process_like_inference_py(artifact)
    in_proc = in_process_texts_per_s(artifact, batches, a.duration)
    in_proc1 = in_process_texts_per_s(artifact, batches, a.duration, threads=1)

    med = lambda rs, k: statistics.median(x[k] for x in rs)
    print(f'\nHTTP serving, POST /predict on 127.0.0.1; {a.connections} connections, one SST-2 dev sentence per request; '
          f'{a.rounds} rounds x {a.duration:.0f} s, medians; wrk on the same 2 cores\n')
    print('| server | requests/s | p50 ms | p99 ms | requests | non-2xx + socket errors | server RSS MB before → after |')
    print('|---|---|---|---|---|---|---|')
    for name, rs in results.items():
        print(f"| {name} | {med(rs, 'rps'):,.0f} | {med(rs, 'p50'):.2f} | {med(rs, 'p99'):.2f} | {sum(x['requests'] for x in rs):,} | "
              f"{sum(x['errors'] for x in rs)} | {med(rs, 'rss_before'):.0f} → {med(rs, 'rss_after'):.0f} |")
    b = statistics.median(x for x, _ in batch_rates)
    print(f'\nbatch requests of 64 texts (8 connections): {b:,.0f} texts/s ({sum(e for _, e in batch_rates)} errors); '
          f'in-process Processor.predict as bench/inference.py measures it (dev x4 in one call, batch_size=256, torch\'s default threads): '
          f'{in_proc_ref:,.0f} texts/s; on the same 64-text batches: {in_proc:,.0f} texts/s with torch\'s default threads, '
          f'{in_proc1:,.0f} with one thread\n')

    print(f"request path alone, in-process (ASGI app called directly, 32 concurrent clients, model answer stubbed): "
          f"nlp_lib /predict {path_cpu['nlp_lib']:.0f} CPU us per request, the no-op FastAPI endpoint {path_cpu['noop']:.0f}\n")

    noop, hand = results['no-op async FastAPI endpoint'], results['hand-written FastAPI + Processor.__call__']
    ours = results['nlp_lib serve (batching, default)']
    nob = results['nlp_lib serve --no-batching']
    growth = max((x['rss_after'] - x['rss_before']) / x['rss_before'] for x in ours)
    non2xx = sum(x['errors'] for x in ours) + sum(e for _, e in batch_rates)
    checks = [
        ('single-text requests/s >= 0.6x the no-op endpoint', med(ours, 'rps') / med(noop, 'rps'), 0.6),
        ('single-text requests/s >= 2x the hand-written endpoint', med(ours, 'rps') / med(hand, 'rps'), 2.0),
        ('p99 <= 2x the no-op endpoint (ratio, lower is better)', med(ours, 'p99') / med(noop, 'p99'), 2.0),
        ('non-2xx + socket errors = 0 (single-text and batch requests)', non2xx, 0),
        ('batch-64 texts/s >= 0.8x in-process predict as bench/inference.py measures it', b / in_proc_ref, 0.8),
        ('server RSS growth <= 10% (largest over rounds)', growth, 0.10),
        ('batching on measures faster than off (requests/s ratio)', med(ours, 'rps') / med(nob, 'rps'), 1.0),
    ]
    print('| target | measured | target | met |\n|---|---|---|---|')
    for name, v, t in checks:
        lower = 'p99' in name or 'errors' in name or 'growth' in name
        ok = v <= t if lower else v >= t
        print(f"| {name} | {v:.2f} | {t} | {'yes' if ok else 'NO'} |")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
