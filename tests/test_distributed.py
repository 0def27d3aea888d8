"""Data-parallel training (issue 11, part 1): `nlp_lib train` under `torchrun` with two CPU processes (gloo) trains each process on its
own shard of every epoch, writes exactly one run record and artifact (rank 0), and gives the same weights for the same world size and seed."""
import hashlib, json, os, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TORCHRUN = str(BIN / 'torchrun')

# 1,500 SST-2 phrases, a small FastText without word vectors, 1 epoch of contrastive pre-training and 3 of training, no MLflow.
SMALL = ['data.limit=1500', 'data.valid_limit=300', 'architecture.name=nlp_lib.FastText.v1', 'architecture.word_vectors=null',
         'architecture.params.bigram_buckets=5000', 'architecture.params.emb_dim=32', 'trainer.epochs=3', 'trainer.lr=0.02', 'trainer.pretrain_epochs=1',
         'tracking.mlflow=false', 'tracking.run_name=ddp']

# Runs `nlp_lib train` unchanged, recording the training indices each process is given per epoch (by wrapping `ShardedDL.get_idxs`).
RECORDER = '''
import json, os, sys
from nlp_lib.training import distributed as D
_get = D.ShardedDL.get_idxs
def get_idxs(self):
    idxs = _get(self)
    if type(self.dl).__name__ == 'BucketedDL' and self.dl.shuffle:   # the supervised training loader (not pre-training's)
        with open(os.path.join(os.environ['SHARD_LOG'], f'rank{self.rank}.jsonl'), 'a') as f:
            f.write(json.dumps({'epoch': int(self.dl.dataset.epoch), 'n': self.n, 'idxs': idxs}) + '\\n')
    return idxs
D.ShardedDL.get_idxs = get_idxs
from fastai.distributed import DistributedTrainer
_before_fit = D.DDPTrainer.before_fit
def before_fit(self):   # what fastai's DistributedTrainer and accelerate made of the model, per fit
    _before_fit(self)
    with open(os.path.join(os.environ['SHARD_LOG'], f'fits{D.rank_distrib()}.jsonl'), 'a') as f:
        f.write(json.dumps({'fastai': isinstance(self, DistributedTrainer), 'model': type(self.learn.model).__name__,
                            'accelerate': str(self.accelerator.distributed_type), 'backend': D.dist.get_backend()}) + '\\n')
D.DDPTrainer.before_fit = before_fit
from nlp_lib.cli import main
sys.exit(main(sys.argv[1:]))
'''


def _torchrun(*cmd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([TORCHRUN, '--standalone', '--nproc_per_node', '2', *map(str, cmd)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore', **(env or {})})


def _sha(artifact: Path) -> str: return hashlib.sha256((artifact / 'model.safetensors').read_bytes()).hexdigest()


@pytest.fixture(scope='module')
def ddp_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ddp')
    (tmp / 'record.py').write_text(RECORDER)
    (tmp / 'shards').mkdir()
    t0 = time.time()
    p = _torchrun(tmp / 'record.py', 'train', '--quiet', *SMALL, f'tracking.runs_dir={tmp / "runs"}', env={'SHARD_LOG': str(tmp / 'shards')})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return tmp, p, time.time() - t0


def test_fastai_distributed_trainer(ddp_run):
    tmp, p, secs = ddp_run
    for rank in (0, 1):   # both fits (pre-training, training) on both processes went through fastai's DistributedTrainer and accelerate
        fits = [json.loads(l) for l in (tmp / 'shards' / f'fits{rank}.jsonl').read_text().splitlines()]
        assert fits == [{'fastai': True, 'model': 'DistributedDataParallel', 'accelerate': 'DistributedType.MULTI_CPU', 'backend': 'gloo'}] * 2, fits


def test_one_run_record_and_artifact(ddp_run):
    tmp, p, secs = ddp_run
    runs = list((tmp / 'runs').iterdir())
    assert len(runs) == 1, runs                                                 # rank 0 alone created the run
    run = runs[0]
    assert json.loads((run / 'run.json').read_text())['status'] == 'finished'
    assert sorted(f.name for f in run.glob('**/model.safetensors')) == ['model.safetensors']   # one artifact, no checkpoint left
    epochs = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines()]
    assert [(e['phase'], e['epoch']) for e in epochs] == [('pretrain', 0), ('train', 0), ('train', 1), ('train', 2)]   # only rank 0 logs
    m = json.loads((run / 'metrics.json').read_text())
    n_valid = json.loads((run / 'data.json').read_text())['n_valid']
    assert sum(c['support'] for c in m['per_class'].values()) == n_valid == 300   # scored on the whole validation set
    last = epochs[-1]   # the last epoch's metrics, gathered from both processes' halves of the validation set, on the final weights
    assert all(abs(last[k] - m[k]) < 1e-6 for k in ('accuracy', 'macro_f1', 'ece')), (last, m)
    # both processes print rank 0's summary: the same run directory and artifact
    assert p.stdout.count(f'artifact: {run / "artifact"}') == 1, p.stdout               # reported once, by the main process


def test_each_process_trains_on_its_own_shard(ddp_run):
    tmp, _, _ = ddp_run
    run = next((tmp / 'runs').iterdir())
    n_train = json.loads((run / 'data.json').read_text())['n_train']
    logs = [[json.loads(l) for l in (tmp / 'shards' / f'rank{r}.jsonl').read_text().splitlines()] for r in (0, 1)]
    assert [e['epoch'] for e in logs[0]] == [e['epoch'] for e in logs[1]] == [1, 2, 3]
    orders = []
    for e0, e1 in zip(*logs):
        a, b = e0['idxs'], e1['idxs']
        assert e0['n'] == e1['n'] and len(a) == len(b) == e0['n'] // 2           # the epoch's order, split in two equal halves
        assert set(a).isdisjoint(b) and len(set(a) | set(b)) == e0['n']          # disjoint, covering every sample of the order
        assert n_train - 64 < e0['n'] <= n_train and max(a + b) < n_train      # the training set, less the dropped last batch
        orders.append(a + b)
    assert orders[0] != orders[1] != orders[2]                                   # reshuffled each epoch


def test_artifact_loads_and_predicts(ddp_run, base_python):
    "The artifact of the two-process run loads and predicts in the base install (no fastai, torch's small CPU build), as in this environment."
    from nlp_lib.inference.processor import Processor
    tmp, _, _ = ddp_run
    art = next((tmp / 'runs').iterdir()) / 'artifact'
    texts = ['a gorgeous, witty, seductive movie.', 'a dull, tedious mess.']
    here = Processor.load(art).predict(texts)
    code = ('import json, sys\nfrom nlp_lib.inference.processor import Processor\n'
            'out = Processor.load(sys.argv[1]).predict(json.loads(sys.argv[2]))\n'
            'print(json.dumps({"probs": [s.probs.tolist() for s in out], "fastai": "fastai" in sys.modules}))')
    r = subprocess.run([str(base_python), '-c', code, str(art), json.dumps(texts)], capture_output=True, text=True, timeout=300, cwd=tmp,
                       env={k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')})
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got['fastai'] is False
    assert len(got['probs']) == 2 and all(abs(sum(p) - 1) < 1e-5 for p in got['probs'])
    assert max(abs(a - b) for p, s in zip(got['probs'], here) for a, b in zip(p, s.probs)) < 1e-5


def test_same_world_size_same_weights(ddp_run, tmp_path):
    # the console script itself under torchrun (`--no-python nlp_lib train`), same config and seed: bit-identical weights
    tmp, _, _ = ddp_run
    p = _torchrun('--no-python', BIN / 'nlp_lib', 'train', '--quiet', *SMALL, f'tracking.runs_dir={tmp_path / "runs"}')
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    (again,) = list((tmp_path / 'runs').iterdir())
    assert _sha(again / 'artifact') == _sha(next((tmp / 'runs').iterdir()) / 'artifact')
