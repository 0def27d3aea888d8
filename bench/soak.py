"""Soak test of `nlp_lib serve`: 50,000 mixed requests at 32 concurrent connections, valid and invalid, single and batch.

    python bench/soak.py [--artifact DIR] [--requests 50000] [--connections 32] [--max-seconds 600]

Loopback only (127.0.0.1) and bounded: wrk (the same driver as `bench/serve.py`) runs a Lua script that cycles
request bodies and stops each of its threads after its share of `--requests`; `--max-seconds` caps the run whatever
happens. The mix, per 100 requests: 50 single texts, 22 batches of 8 to 32 texts, 3 `debug=true` requests, and 25
invalid requests (malformed JSON, a number as text, both fields, an empty list, too many texts, a text over
max_chars, a text/plain body), each with the 4xx it must get. The script counts the answers by status in every wrk
thread, so 4xx (expected) and 5xx (server errors) are told apart.

First a warm-up (5,000 requests of the same mix), then the server's RSS, then the soak with the RSS sampled every
second, then the RSS at the end. The server's own `/metrics` counts its 5xx as a second witness. Prints a markdown
table of figures and one of checks (met / NOT met): 0 server errors, no socket errors (dropped connections), every
invalid request answered with its 4xx, RSS growth after warm-up <= 10%, p99 reported.

Without --artifact, the default recipe is trained first (`nlp_lib train`, a few minutes) unless
.bench-cache/default-artifact exists.
"""
from __future__ import annotations
import argparse, json, random, re, shutil, signal, subprocess, sys, tempfile, threading, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import NLP_LIB, ROOT, Server, bench_inputs, rss_mb  # noqa: E402

TOO_MANY, TOO_LONG = 257, 10_001        # over the default max_texts=256 and max_chars=10,000


def bodies(texts: list[str], n: int = 400, seed: int = 0) -> list[tuple[str, str, int]]:
    "`n` requests (content type, body, the status it must get) in the mix the module docstring describes."
    rng = random.Random(seed)
    invalid = [('application/json', '{"text": ', 422), ('application/json', '{"text": 3}', 422),
               ('application/json', '{"text": "a", "texts": ["b"]}', 422), ('application/json', '{"texts": []}', 422),
               ('application/json', json.dumps({'texts': ['a'] * TOO_MANY}), 413),
               ('application/json', json.dumps({'text': 'a' * TOO_LONG}), 413), ('text/plain', '{"text": "a"}', 415)]
    out = []
    for i in range(n):
        k = i % 100
        if k < 50: out.append(('application/json', json.dumps({'text': rng.choice(texts)}), 200))
        elif k < 72: out.append(('application/json', json.dumps({'texts': rng.sample(texts, rng.randint(8, 32))}), 200))
        elif k < 75: out.append(('application/json', json.dumps({'texts': rng.sample(texts, 2), 'debug': True}), 200))
        else: out.append(invalid[k % len(invalid)])
    rng.shuffle(out)
    return out


def lua_script(reqs: list[tuple[str, str, int]], per_thread: int, path: Path) -> Path:
    """A wrk script: each thread cycles `reqs` from its own offset, counts what it sent (by expected status) and got
    (by status), and stops after `per_thread` answers, writing a line to `path`.done (wrk itself waits out -d)."""
    items = ',\n'.join(f'{{[==[{c}]==], [==[{b}]==], {s}}}' for c, b, s in reqs)
    path.write_text(f'''local reqs = {{
{items}
}}
local threads = {{}}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  i = id * 131
  sent, got, n = {{}}, {{}}, 0
end
request = function()
  i = i % #reqs + 1
  local r = reqs[i]
  sent[r[3]] = (sent[r[3]] or 0) + 1
  return wrk.format("POST", "/predict", {{["Content-Type"] = r[1]}}, r[2])
end
response = function(status, headers, body)
  got[status] = (got[status] or 0) + 1
  n = n + 1
  if n == {per_thread} then
    local f = io.open([==[{path}.done]==], "a"); f:write("done\\n"); f:close()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local s, g = {{}}, {{}}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("sent")) do s[k] = (s[k] or 0) + v end
    for k, v in pairs(t:get("got")) do g[k] = (g[k] or 0) + v end
  end
  for k, v in pairs(s) do io.write(string.format("SENT %d %d\\n", k, v)) end
  for k, v in pairs(g) do io.write(string.format("GOT %d %d\\n", k, v)) end
  io.write(string.format("LATENCY_US %d %d %d %d\\n", latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
''')
    return path


def run(url: str, script: Path, max_seconds: float, connections: int, threads: int) -> dict:
    """One wrk run, ended (SIGINT, which makes wrk report at once) when every thread has its answers, or after
    `max_seconds`; what the script counted, wrk's socket errors, requests/s and latency."""
    done = Path(f'{script}.done'); done.unlink(missing_ok=True)
    p = subprocess.Popen(['wrk', f'-t{threads}', f'-c{connections}', f'-d{max(1, round(max_seconds))}s', '--timeout', '10s', '-s', str(script), url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while p.poll() is None:
        if done.exists() and len(done.read_text().splitlines()) >= threads: p.send_signal(signal.SIGINT); break
        time.sleep(0.05)
    out, err = p.communicate(timeout=120)
    if 'LATENCY_US' not in out: raise SystemExit(f'wrk failed ({p.returncode}):\n{out}\n{err}')
    sock = dict.fromkeys(('connect', 'read', 'write', 'timeout'), 0)
    if m := re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out):
        sock = dict(zip(sock, map(int, m.groups())))
    p50, p99, p999, mx = (int(x) / 1000 for x in re.search(r'LATENCY_US (\d+) (\d+) (\d+) (\d+)', out).groups())
    return {'sent': {int(k): int(v) for k, v in re.findall(r'^SENT (\d+) (\d+)$', out, re.M)},
            'got': {int(k): int(v) for k, v in re.findall(r'^GOT (\d+) (\d+)$', out, re.M)},
            'socket': sock, 'rps': float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1)),
            'seconds': float(re.search(r'requests in ([\d.]+)(ms|s|m)', out).group(1)) * {'ms': 1e-3, 's': 1, 'm': 60}[re.search(r'requests in [\d.]+(ms|s|m)', out).group(1)],
            'p50': p50, 'p99': p99, 'p999': p999, 'max': mx}


def tree_rss_mb(pid: int) -> float:
    "RSS of `pid` and its children (the workers with --workers > 1), in MB."
    kids = [int(p.name) for p in Path('/proc').iterdir() if p.name.isdigit() and _ppid(p) == pid]
    return rss_mb(pid) + sum(rss_mb(k) for k in kids)


def _ppid(p: Path) -> int | None:
    try: return int((p / 'stat').read_text().rsplit(')', 1)[1].split()[1])
    except (OSError, ValueError, IndexError): return None


def server_counts(url: str) -> dict[str, int]:
    "Requests the server itself counted (its /metrics), by 'route status'."
    import urllib.request
    with urllib.request.urlopen(url + '/metrics', timeout=10) as r: text = r.read().decode()
    return {f'{route} {status}': int(float(v)) for route, status, v in
            re.findall(r'^nlp_lib_http_requests_total\{route="([^"]*)",status="(\d+)"\} ([\d.e+]+)$', text, re.M)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--artifact')
    ap.add_argument('--requests', type=int, default=50_000, help='requests in the soak (after the warm-up)')
    ap.add_argument('--warmup', type=int, default=5_000, help='requests before the RSS baseline')
    ap.add_argument('--connections', type=int, default=32)
    ap.add_argument('--threads', type=int, default=2, help='wrk threads')
    ap.add_argument('--workers', type=int, default=1, help='server worker processes')
    ap.add_argument('--max-seconds', type=float, default=600, help='cap on the soak run, whatever the request count')
    a = ap.parse_args()
    texts, artifact = bench_inputs(a.artifact)
    tmp = Path(tempfile.mkdtemp(prefix='nlp_lib-soak-'))
    reqs = bodies(texts)
    warm_script = lua_script(reqs, -(-a.warmup // a.threads), tmp / 'warm.lua')
    soak_script = lua_script(reqs, -(-a.requests // a.threads), tmp / 'soak.lua')
    log = tmp / 'server.log'
    s = Server('soak', [str(NLP_LIB), 'serve', artifact, '--port', '{PORT}', '--workers', str(a.workers)], '/ready', log=log)
    samples, stop = [], threading.Event()
    def sample():
        while not stop.wait(1.0): samples.append(tree_rss_mb(s.proc.pid))
    try:
        t0 = time.monotonic()
        warm = run(s.url, warm_script, min(120, a.max_seconds), a.connections, a.threads)
        rss_warm = tree_rss_mb(s.proc.pid)
        sampler = threading.Thread(target=sample, daemon=True); sampler.start()
        r = run(s.url, soak_script, a.max_seconds, a.connections, a.threads)
        stop.set(); sampler.join()
        rss_end = tree_rss_mb(s.proc.pid)
        counted = server_counts(s.url)
        counted_5xx = sum(v for k, v in counted.items() if k.split()[1].startswith('5') and k != '/ready 503')   # /ready: 503 while loading, by design
        total_s = time.monotonic() - t0
    finally:
        stop.set(); s.stop()
    server_log = log.read_text()
    shutil.rmtree(tmp, ignore_errors=True)

    got, sent = r['got'], r['sent']
    n = sum(got.values())
    n5 = sum(v for k, v in got.items() if k >= 500)
    n4 = sum(v for k, v in got.items() if 400 <= k < 500)
    n2 = sum(v for k, v in got.items() if 200 <= k < 300)
    sock = sum(r['socket'].values())
    unexpected = {k: v for k, v in got.items() if k not in sent}
    # each expected status was answered as often as it was sent, less the requests in flight when wrk stopped
    mismatch = {k: (sent.get(k, 0), got.get(k, 0)) for k in sent if not 0 <= sent.get(k, 0) - got.get(k, 0) <= a.connections}
    growth = (rss_end - rss_warm) / rss_warm
    peak = max(samples, default=rss_end)
    print(f'\nSoak of nlp_lib serve on 127.0.0.1 ({a.workers} worker{"s" if a.workers > 1 else ""}): {a.requests:,} requests after a '
          f'{sum(warm["got"].values()):,}-request warm-up, {a.connections} connections, wrk with {a.threads} threads on the same 2 cores; '
          f'mix per 100: 50 single, 22 batches of 8-32 texts, 3 debug, 25 invalid. One run, {total_s:.0f} s in all.\n')
    print('| figure | value |\n|---|---|')
    rows = [('requests answered', f'{n:,}'), ('2xx', f'{n2:,}'), ('4xx (invalid requests, expected)', f'{n4:,}'),
            ('5xx (server errors)', f'{n5:,}'), ('by status', ', '.join(f'{k}: {v:,}' for k, v in sorted(got.items()))),
            ('sent by expected status', ', '.join(f'{k}: {v:,}' for k, v in sorted(sent.items()))),
            ('socket errors (connect / read / write / timeout)', ' / '.join(str(v) for v in r['socket'].values())),
            ('requests/s', f"{r['rps']:,.0f}"), ('soak duration s', f"{r['seconds']:.1f}"),
            ('latency p50 / p99 / p99.9 / max ms', f"{r['p50']:.1f} / {r['p99']:.1f} / {r['p999']:.1f} / {r['max']:.1f}"),
            ('server RSS MB after warm-up → peak → end', f'{rss_warm:.0f} → {peak:.0f} → {rss_end:.0f}'),
            ('5xx counted by the server (/metrics; /ready 503 before the model loaded left out)', f'{counted_5xx}'),
            ('/predict by status, counted by the server (warm-up included)', ', '.join(f'{k.split()[1]}: {v:,}' for k, v in sorted(counted.items()) if k.startswith('/predict '))),
            ('Traceback lines in the server log', f"{server_log.count('Traceback')}")]
    for k, v in rows: print(f'| {k} | {v} |')
    checks = [(f'requests answered >= {a.requests:,} (within the {a.max_seconds:.0f} s cap)', f'{n:,}', n >= a.requests),
              ('0 server errors (5xx seen by wrk, counted by the server, tracebacks logged)', f"{n5} / {counted_5xx} / {server_log.count('Traceback')}",
               n5 == 0 and counted_5xx == 0 and 'Traceback' not in server_log),
              ('no dropped connections (socket errors)', f'{sock}', sock == 0),
              ('every request got the status its kind must get (no other status)', f'unexpected {unexpected or "none"}, mismatched {mismatch or "none"}',
               not unexpected and not mismatch),
              ('RSS growth after warm-up <= 10%', f'{growth:+.1%}', growth <= 0.10),
              ('p99 reported', f"{r['p99']:.1f} ms", True)]
    print('\n| check | measured | met |\n|---|---|---|')
    for name, v, ok in checks: print(f"| {name} | {v} | {'met' if ok else 'NOT met'} |")
    sys.exit(0 if all(ok for *_, ok in checks) else 1)


if __name__ == '__main__':
    main()
