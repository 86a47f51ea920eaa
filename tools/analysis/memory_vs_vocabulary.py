"""Peak memory of inference against the vocabulary size T at fixed K.

For each T, a fresh process builds the model of CONFIG (random CLIP
weights: ``model.pretrained=None``), keeps exactly K categories per view
(``DCPCategorySelector(fixed_k=K)``), fills the text cache with T random
unit vectors per template (text encoding is not measured here: it is
cached per vocabulary, see ``tools/analysis/benchmark.py --text``) and
predicts one image of ``--img-size`` H W in the config's test mode. The
child's peak resident set size (``ru_maxrss``) is printed as a table, with
the peak of the model alone (built, no forward) for reference.

    python tools/analysis/memory_vs_vocabulary.py \\
        configs/dcp/dcp_vitb16_cocostuff.py --vocab-sizes 150 847 5000 20000
"""
import argparse
import json
import subprocess
import sys
from typing import List, Optional

CHILD = r'''
import json, resource, sys, torch
import dcp_mm  # noqa: F401
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
args = json.loads(sys.argv[1])
init_default_scope('mmseg')
torch.set_num_threads(args['threads'])
cfg = Config.fromfile(args['config'])
cfg.model.pretrained = None
cfg.model.selector = dict(type='DCPCategorySelector', fixed_k=args['k'])
if args['templates']:
    cfg.model.text_encoder.templates = args['templates']
model = MODELS.build(cfg.model).eval()
t = args['T']
names = [f'category {i}' for i in range(max(t, 1))]
p, d = model.text_encoder.num_templates, model.backbone.embed_dims
gen = torch.Generator().manual_seed(0)
text = torch.randn(t, p, d, generator=gen)
text = torch.nn.functional.normalize(text, dim=-1)
model.text_encoder.forward = lambda vocab: text  # the cached embeddings
model.set_vocabulary(names, 'test')
model.set_vocabulary(names[:10], 'train')  # seen categories (for TV)
idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if t:
    h, w = args['img_size']
    x = torch.randn(1, 3, h, w, generator=gen)
    with torch.no_grad():
        out = model.predict(x)
    k_used = len(out[0].selected_categories)
    channels = out[0].seg_logits.data.shape[0]
else:
    k_used = channels = 0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(T=t, P=p, K=k_used, channels=channels,
                      idle_MB=idle / 1024, peak_MB=peak / 1024)))
'''


def measure(config: str, t: int, k: int, img_size: List[int],
            templates: Optional[str], threads: int) -> dict:
    """Run one child process; its JSON line as a dict."""
    args = dict(
        config=config,
        T=t,
        k=k,
        img_size=img_size,
        templates=templates,
        threads=threads)
    out = subprocess.run([sys.executable, '-c', CHILD,
                          json.dumps(args)],
                         check=True,
                         capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument(
        '--vocab-sizes', type=int, nargs='+', default=[150, 847, 5000, 20000])
    parser.add_argument('--k', type=int, default=16)
    parser.add_argument(
        '--img-size',
        type=int,
        nargs=2,
        default=[480, 640],
        metavar=('H', 'W'))
    parser.add_argument(
        '--templates', help='override the config\'s templates (e.g. single)')
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args(argv)
    rows = [
        measure(args.config, t, args.k, args.img_size, args.templates,
                args.threads) for t in args.vocab_sizes
    ]
    base = rows[0]['peak_MB']
    print('| T | P | K kept | seg_logits channels | model built MB | '
          'peak RSS MB | vs first T |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        print(f'| {r["T"]} | {r["P"]} | {r["K"]} | {r["channels"]} | '
              f'{r["idle_MB"]:.0f} | {r["peak_MB"]:.0f} | '
              f'{r["peak_MB"] / base:.2f}x |')
    return rows


if __name__ == '__main__':
    main()
