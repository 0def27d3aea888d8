"""Shared by the HTTP benchmarks (`bench/serve.py`, `bench/soak.py`): servers on 127.0.0.1 in child processes, their RSS,
wrk scripts that cycle request bodies, wrk runs parsed into numbers, and the cached default artifact."""
from __future__ import annotations
import os, re, shutil, signal, socket, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / '.bench-cache'
NLP_LIB = Path(sys.executable).parent / 'nlp_lib'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'): return int(line.split()[1]) / 1024
    return float('nan')


def wait_ready(url: str, proc: subprocess.Popen, path: str, timeout: float = 180):
    import urllib.request, urllib.error
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None: raise SystemExit(f'server exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ""}')
        try:
            with urllib.request.urlopen(url + path, timeout=2) as r:
                if r.status == 200: return
        except (urllib.error.URLError, ConnectionError, OSError): pass
        time.sleep(0.2)
    raise SystemExit(f'{url} not ready after {timeout} s')


class Server:
    def __init__(self, name: str, cmd: list[str], ready_path: str, env=None, cwd=None, log: Path | None = None):
        "Start `cmd` ('{PORT}' replaced by a free port) and wait for `ready_path` to answer 200; `log`: a file for its output (else a pipe)."
        self.name, self.port = name, free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        cmd = [c.replace('{PORT}', str(self.port)) for c in cmd]
        out = open(log, 'w') if log else subprocess.PIPE
        self.proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
        wait_ready(self.url, self.proc, ready_path)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try: self.proc.wait(60)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()


def lua_script(bodies: list[str], path: Path) -> Path:
    "A wrk script that POSTs `bodies` in turn, as JSON."
    items = ',\n'.join('[==[' + b + ']==]' for b in bodies)
    path.write_text(f'''wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {{
{items}
}}
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, "/predict", nil, bodies[i])
end
''')
    return path


def _ms(v: str, unit: str) -> float:
    return float(v) * {'us': 1e-3, 'ms': 1, 's': 1e3, 'm': 60e3}[unit]


def run_wrk(url: str, script: Path, duration: float, connections: int = 32, threads: int = 2) -> dict:
    r = subprocess.run(['wrk', f'-t{threads}', f'-c{connections}', f'-d{max(1, round(duration))}s', '--latency', '-s', str(script), url],
                       capture_output=True, text=True, timeout=duration + 60)
    out = r.stdout
    lat = {p: _ms(v, u) for p, v, u in re.findall(r'^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$', out, re.M)}
    n = int(re.search(r'(\d+) requests in', out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r'Non-2xx or 3xx responses: (\d+)', out)) else 0
    sock = sum(int(x) for x in re.findall(r'(?:connect|read|write|timeout) (\d+)', m.group(0))) if (m := re.search(r'Socket errors:.*', out)) else 0
    return {'rps': float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1)), 'p50': lat.get('50'), 'p99': lat.get('99'),
            'requests': n, 'errors': non2xx + sock}


def default_artifact() -> str:
    cached = CACHE / 'default-artifact'
    if (cached / 'manifest.json').exists(): return str(cached)
    runs = Path(tempfile.mkdtemp(prefix='nlp_lib-bench-'))
    print(f'training the default recipe into {runs} (a few minutes; pass --artifact to skip) ...', flush=True)
    out = subprocess.run([str(NLP_LIB), 'train', '--quiet', f'tracking.runs_dir={runs}', 'tracking.mlflow=false'],
                         capture_output=True, text=True, check=True).stdout
    art = Path(out.split('artifact: ')[1].strip())
    CACHE.mkdir(exist_ok=True); shutil.copytree(art, cached)
    return str(cached)


def bench_inputs(artifact: str | None) -> tuple[list[str], str]:
    "The SST-2 dev sentences and the artifact to serve (`artifact`, or the cached default one); installs wrk first when missing."
    if not shutil.which('wrk'): subprocess.run(['bash', str(ROOT / 'tools' / 'system-deps.sh')], check=True)
    sys.path.insert(0, str(ROOT))
    from nlp_lib.datasets import data_dir, read_tsv
    texts, _ = read_tsv(data_dir('sst2') / 'dev.tsv')
    return texts, str(Path(artifact or default_artifact()).resolve())
