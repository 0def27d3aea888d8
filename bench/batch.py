"""Batch inference benchmark: rows per second of `nlp_lib.batch.predict_file` and `predict_dataset` (Ray, 1 and 2 actors)
beside `Processor.predict` on a list, and the peak memory of `predict_file` on a small and a 10x larger file.

    python bench/batch.py                                  # 200,000 rows; memory on 100,000 vs 1,000,000 rows (quiet machine)
    python bench/batch.py --artifact runs/<run>/artifact   # a trained model (e.g. the default recipe's) instead of a small untrained one
    python bench/batch.py --rows 20000 --mem-rows 5000,50000   # a quick check that it works

Input: SST-2 dev sentences (872) repeated to --rows rows, with an `id` column, as Parquet. Every row of the table is measured
in its own child process (`--worker`), so each peak RSS (VmHWM) is that row's own. Rows:
  Processor.predict     the texts already in a Python list, one `predict` call (the in-memory baseline; load time excluded)
  predict_file          Parquet in -> Parquet out, streaming `--chunk-rows` at a time (reading and writing included)
  Ray, N actor(s)       local `ray.init(num_cpus=N + 1)` (one CPU per actor, one for reading and writing: actors holding every CPU
                        starve the read tasks), `read_parquet` -> `predict_dataset(concurrency=N, num_cpus=1)` -> `write_parquet`;
                        ray.init excluded, actor start-up and model loading included
In-process rows let torch use every core; each Ray actor reserves one CPU and runs torch with one thread.
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def peak_mb() -> float:
    "This process's peak resident memory (VmHWM), in MB."
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmHWM:'): return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_input(path: Path, rows: int):
    "SST-2 dev sentences repeated to `rows` rows, with an `id`, written a slice at a time (this process stays small)."
    import pyarrow as pa, pyarrow.parquet as pq
    from nlp_lib.datasets import data_dir, read_tsv
    texts, _ = read_tsv(data_dir('sst2') / 'dev.tsv')
    with pq.ParquetWriter(path, pa.schema([('id', pa.int64()), ('text', pa.string())])) as w:
        for start in range(0, rows, 50_000):
            ids = range(start, min(rows, start + 50_000))
            w.write_table(pa.table({'id': pa.array(ids, pa.int64()), 'text': [texts[i % len(texts)] for i in ids]}))


def make_artifact(path: Path) -> Path:
    "A small untrained TextCNN fitted on 2,000 SST-2 training sentences (what the notebooks use)."
    from nlp_lib.datasets import data_dir, read_tsv
    from nlp_lib.inference.processor import Processor
    texts, labels = read_tsv(data_dir('sst2') / 'train.tsv', limit=2000)
    proc = Processor.from_corpus(texts, labels, 'nlp_lib.TextCNN.v1', {'emb_dim': 32, 'n_filters': 16}, seed=3, label_names=['negative', 'positive'])
    return proc.save(path)


def worker(kind: str, artifact: str, data: str, out: str, batch_size: int, chunk_rows: int) -> dict:
    "Run one row in this (fresh) process; its rows, seconds and peak RSS."
    import pyarrow.parquet as pq
    from nlp_lib.inference.processor import Processor
    from nlp_lib.batch import predict_dataset, predict_file
    n = pq.ParquetFile(data).metadata.num_rows
    if kind == 'predict':
        proc, texts = Processor.load(artifact), pq.read_table(data, columns=['text'])['text'].to_pylist()
        t0 = time.perf_counter(); proc.predict(texts, batch_size=batch_size); dt = time.perf_counter() - t0
    elif kind == 'predict_file':
        proc = Processor.load(artifact)
        t0 = time.perf_counter(); predict_file(proc, data, out, chunk_rows=chunk_rows, batch_size=batch_size, progress=False); dt = time.perf_counter() - t0
    elif kind.startswith('ray'):
        import logging, ray
        ray.init(num_cpus=int(kind[3:]) + 1, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            t0 = time.perf_counter()
            predict_dataset(ray.data.read_parquet(data), artifact, batch_size=batch_size, concurrency=int(kind[3:]), num_cpus=1).write_parquet(out)
            dt = time.perf_counter() - t0
        finally: ray.shutdown()
    else: raise SystemExit(f'unknown worker {kind!r}')
    return {'rows': n, 'seconds': dt, 'peak_mb': peak_mb()}


def run_worker(kind: str, artifact: Path, data: Path, out: Path, a) -> dict:
    cmd = [sys.executable, __file__, '--worker', kind, '--artifact', str(artifact), '--data', str(data), '--out', str(out),
           '--batch-size', str(a.batch_size), '--chunk-rows', str(a.chunk_rows)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode: raise SystemExit(f'{kind} failed ({r.returncode}):\n{r.stderr[-3000:]}')
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rows', type=int, default=200_000, help='rows of the throughput input')
    p.add_argument('--mem-rows', default='100000,1000000', help='two input sizes for the peak-memory rows of predict_file ("" to skip)')
    p.add_argument('--artifact', help='a saved processor (e.g. a default-recipe run); default: a small untrained TextCNN')
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--chunk-rows', type=int, default=10_000)
    p.add_argument('--no-ray', action='store_true', help='skip the Ray rows')
    p.add_argument('--worker', help=argparse.SUPPRESS); p.add_argument('--data', help=argparse.SUPPRESS); p.add_argument('--out', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.artifact, a.data, a.out, a.batch_size, a.chunk_rows))); return

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        artifact = Path(a.artifact) if a.artifact else make_artifact(d / 'artifact')
        model = f'`{artifact.name}` given with --artifact' if a.artifact else 'a small untrained TextCNN (emb 32, 16 filters; `Processor.from_corpus` on 2,000 SST-2 sentences)'
        make_input(d / 'in.parquet', a.rows)
        kinds = ['predict', 'predict_file'] + ([] if a.no_ray else ['ray1', 'ray2'])
        names = {'predict': 'Processor.predict (list in memory)', 'predict_file': 'predict_file (Parquet → Parquet)',
                 'ray1': 'Ray Data, 1 actor', 'ray2': 'Ray Data, 2 actors'}
        res = {k: run_worker(k, artifact, d / 'in.parquet', d / f'out-{k}.parquet', a) for k in kinds}
        print(f'## Batch inference: {a.rows:,} rows (SST-2 dev repeated)\n')
        print(f'Model: {model}. Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; '
              f'batch size {a.batch_size}, chunk {a.chunk_rows:,} rows; one fresh process per row.\n')
        print('| path | rows | seconds | rows/s | peak RSS MB |\n|---|---:|---:|---:|---:|')
        for k, r in res.items():
            print(f"| {names[k]} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} | {r['peak_mb']:,.0f} |")
        sizes = [int(x) for x in a.mem_rows.split(',') if x.strip()]
        if sizes:
            print(f'\n## Peak memory of predict_file (Parquet → Parquet, chunk {a.chunk_rows:,} rows)\n')
            print('| input rows | seconds | rows/s | peak RSS MB |\n|---:|---:|---:|---:|')
            for n in sizes:
                make_input(d / f'mem-{n}.parquet', n)
                r = run_worker('predict_file', artifact, d / f'mem-{n}.parquet', d / f'mem-out-{n}.parquet', a)
                print(f"| {n:,} | {r['seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} | {r['peak_mb']:,.0f} |")
                (d / f'mem-{n}.parquet').unlink(); (d / f'mem-out-{n}.parquet').unlink()


if __name__ == '__main__':
    main()
