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
- nlp_lib serve with the fast recipe, when --fast-artifact is given or .bench-cache/fast-artifact exists.
Then batch requests of 64 texts against `nlp_lib serve`, beside in-process `Processor.predict` on the same 64-text batches.

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
    }
    fast = a.fast_artifact or (str(CACHE / 'fast-artifact') if (CACHE / 'fast-artifact' / 'manifest.json').exists() else None)
    if fast: servers['nlp_lib serve, fast recipe (SWEM.v1)'] = (None, {'FAST': str(Path(fast).resolve())}, '/ready')
    results = {k: [] for k in servers}
    rss = {}
    warm = max(2.0, a.duration / 5)
    for rnd in range(a.rounds):
        for name, (cmd, env, ready) in servers.items():
            if cmd is None:
                flags = ['--no-batching'] if 'no-batching' in name else []
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
          f'in-process Processor.predict on the same batches: {in_proc:,.0f} texts/s with torch\'s default threads, '
          f'{in_proc1:,.0f} with one thread (the server\'s setting)\n')

    noop, hand = results['no-op async FastAPI endpoint'], results['hand-written FastAPI + Processor.__call__']
    ours = results['nlp_lib serve (batching, default)']
    nob = results['nlp_lib serve --no-batching']
    growth = max((x['rss_after'] - x['rss_before']) / x['rss_before'] for x in ours)
    checks = [
        ('single-text requests/s >= 60% of the no-op endpoint', med(ours, 'rps') / med(noop, 'rps'), 0.60),
        ('single-text requests/s >= 2x the hand-written endpoint', med(ours, 'rps') / med(hand, 'rps'), 2.0),
        ('p99 <= 2x the no-op endpoint (ratio, lower is better)', med(ours, 'p99') / med(noop, 'p99'), 2.0),
        ('errors = 0', sum(x['errors'] for x in ours), 0),
        ('server RSS growth <= 10% (largest over rounds)', growth, 0.10),
        ('batch-64 texts/s >= 70% of in-process predict (torch default threads)', b / in_proc, 0.70),
        ('batch-64 texts/s >= 70% of in-process predict (one thread, as served)', b / in_proc1, 0.70),
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
