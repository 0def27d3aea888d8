"""The Snakemake workflow (workflow/Snakefile, config/config.yaml): data → checks → trained artifact → metrics and report → pushed version → smoke test.

A dry run of the repository's own layout and config lists every rule; the whole workflow then runs end to end in a temporary
directory on a tiny config (the fast recipe, one epoch, a few hundred SST-2 sentences, a local store), and a second run has nothing to do.
Both run on copies, so the checkout gets no `.snakemake/` or `results/`.
"""
import json, os, re, shutil, subprocess, sys
from pathlib import Path
import pytest, yaml
from conftest import run_checked

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RULES = ['test', 'train', 'evaluate', 'report', 'push', 'smoke', 'all']


def _env() -> dict:
    "This environment's tools first on PATH (nlp_lib, snakemake); the shared data; no MLflow server."
    from nlp_lib.datasets import data_dir
    env = {k: v for k, v in os.environ.items() if k not in ('MLFLOW_TRACKING_URI', 'NLP_LIB_API_KEY')}
    env['PATH'] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault('NLP_LIB_DATA', str(data_dir('sst2').parent))
    return env


def snakemake(cwd, *args, timeout=300) -> subprocess.CompletedProcess:
    return run_checked([str(BIN / 'snakemake'), '--cores', '1', *args], timeout=timeout, cwd=cwd, env=_env())


def _layout(dest: Path) -> Path:
    "A copy of the repository's workflow/, config/ and configs/ in `dest`."
    for d in ('workflow', 'config', 'configs'): shutil.copytree(ROOT / d, dest / d, ignore=shutil.ignore_patterns('__pycache__', '.snakemake'))
    return dest


def job_counts(out: str) -> dict[str, int]:
    "The 'Job stats' table of a (dry) run: rule → number of jobs."
    table = out.split('Job stats:', 1)[1] if 'Job stats:' in out else ''
    return {m[1]: int(m[2]) for m in re.finditer(r'^(\w+)\s+(\d+)\s*$', table, re.M) if m[1] != 'total'}


def test_dry_run_lists_every_rule(tmp_path):
    d = _layout(tmp_path)
    listed = snakemake(d, '--list-rules').stdout.split()
    assert set(RULES) <= set(listed), listed
    r = snakemake(d, '-n')
    assert job_counts(r.stdout) == {r: 1 for r in RULES}, r.stdout[-3000:]
    cfg = yaml.safe_load((ROOT / 'config' / 'config.yaml').read_text())
    assert r'${NLP_LIB_DATA}/sst2/train.tsv' == cfg['data']['train'] and cfg['train']['config'] == 'configs/fast.yaml'
    assert f"results/{cfg['model']}/smoke.json" in r.stdout and f"results/{cfg['model']}/pushed.txt" in r.stdout


def test_dry_run_names_an_unset_variable(tmp_path):
    d = _layout(tmp_path)
    env = {k: v for k, v in _env().items() if k != 'NLP_LIB_DATA'}
    r = subprocess.run([str(BIN / 'snakemake'), '-n', '--cores', '1'], cwd=d, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and 'data.train' in r.stdout + r.stderr and 'NLP_LIB_DATA' in r.stdout + r.stderr, r.stdout + r.stderr


def tiny_project(d: Path, n_train=300, n_dev=100) -> dict:
    "workflow/ and the fast recipe in `d`, tiny SST-2 files, and a config: one epoch, no MLflow, a local store."
    from nlp_lib.datasets import data_dir
    _layout(d)
    src = data_dir('sst2')
    (d / 'data').mkdir()
    for name, n in (('train.tsv', n_train), ('dev.tsv', n_dev)):
        lines = (src / name).read_text(encoding='utf-8').splitlines(keepends=True)
        (d / 'data' / name).write_text(''.join(lines[:n + 1]), encoding='utf-8')
    cfg = {'model': 'tiny', 'version': 'v1', 'store': 'store', 'aliases': ['latest', 'candidate'], 'results': 'results',
           'data': {'train': 'data/train.tsv', 'valid': 'data/dev.tsv', 'eval': 'data/dev.tsv', 'text_col': 'sentence', 'label_col': 'label'},
           'train': {'config': 'configs/fast.yaml',
                     'overrides': ['trainer.epochs=1', 'tracking.mlflow=false', 'postprocess.label_names={"0": negative, "1": positive}']},
           'smoke': {'target': 'pushed', 'timeout': 120, 'texts': ['a gripping, funny film', 'a dull mess', 'ok']}}
    (d / 'config' / 'config.yaml').write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg


def test_workflow_end_to_end(tmp_path):
    from nlp_lib.inference.processor import Processor
    d = tmp_path / 'project'
    d.mkdir()
    cfg = tiny_project(d)
    snakemake(d, timeout=900)
    out = d / 'results' / 'tiny'
    for f in ['checks/data.json', 'checks/config.yaml', 'train.txt', 'artifact/manifest.json', 'metrics.json',
              'report/report.html', 'report/summary.json', 'report/predictions.csv', 'pushed.txt', 'smoke.json']:
        assert (out / f).is_file(), f'{f} missing'
    checks = json.loads((out / 'checks' / 'data.json').read_text())
    assert checks['train']['rows'] == 300 and checks['eval']['rows'] == 100 and set(checks['train']['labels']) == {'0', '1'}
    resolved = yaml.safe_load((out / 'checks' / 'config.yaml').read_text())
    assert resolved['trainer']['epochs'] == 1 and resolved['tracking']['run_name'] == 'tiny' and resolved['architecture']['name'] == 'nlp_lib.SWEM.v1'

    # train: the run directory it printed is under results/runs, and the fixed-path artifact is a copy of its artifact
    summary = (out / 'train.txt').read_text()
    run_dir = d / re.search(r'^run:\s+(.+)$', summary, re.M)[1].strip()
    assert run_dir.parent == d / 'results' / 'runs' and run_dir.name.endswith('-tiny')
    assert (run_dir / 'artifact' / 'manifest.json').read_bytes() == (out / 'artifact' / 'manifest.json').read_bytes()

    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['n'] == 100 and 0 <= metrics['accuracy'] <= 1 and set(metrics['per_class']) == {'negative', 'positive'}
    assert json.loads((out / 'report' / 'summary.json').read_text())['n'] == 100

    # push: the version directory in the store loads, and predicts as the trained artifact does
    pushed = [l for l in (out / 'pushed.txt').read_text().splitlines() if l.strip()][-1].strip()
    assert pushed.rstrip('/').endswith('/v1'), pushed
    version = d / 'store' / 'v1'
    assert (version / 'manifest.json').read_bytes() == (out / 'artifact' / 'manifest.json').read_bytes()
    assert (d / 'store' / 'latest').exists() and (d / 'store' / 'candidate').exists()
    texts = cfg['smoke']['texts']
    got, want = Processor.load(version).predict(texts), Processor.load(out / 'artifact').predict(texts)
    assert [s.label for s in got] == [s.label for s in want]

    # smoke: the pushed version answered over HTTP as the model does
    smoke = json.loads((out / 'smoke.json').read_text())
    assert smoke['passed'] and smoke['artifact'] == pushed and smoke['labels'] == ['negative', 'positive']
    assert [p['label'] for p in smoke['predictions']] == [s.label for s in want]

    # only what changed reruns: nothing at all, then only push and smoke for another version
    assert 'Nothing to be done' in snakemake(d, '-n').stdout
    assert job_counts(snakemake(d, '-n', '--config', 'version=v2').stdout) == {'push': 1, 'smoke': 1, 'all': 1}
