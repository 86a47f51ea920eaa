"""Efficiency benchmark of open-vocabulary segmentors (Tables II and VII).

Several configs are measured side by side in ONE process on the same inputs
(seeded random image, batch 1, whole-image mode at ``--img-size``), with
random weights (``model.pretrained=None``): after ``--warmup`` runs, the
median of ``--repeats`` runs is reported. For each config, vocabulary size T
(real class names: 20 VOC, 59 PC, 150 A-150, 171 COCO-Stuff, 459 PC-459, 847
A-847) and selector variant (``tau=0``, ``tau=0.5``, ``k=16`` = the
benchmark-only ``model.selector.fixed_k``; configs without a selector are
run once per T):

* inference: latency per image (``model.predict``, cached vocabulary), CLIP
  image-encoder time and the time of everything after it, GFLOPs
  (``torch.utils.flop_counter``, see :func:`gflops`),
  total / learnable parameters, peak CPU RSS increase (``VmHWM`` reset
  through ``/proc/self/clear_refs``), mean K reaching the decoder;
* training (``--train``): time per iteration (forward + backward + AdamW
  step) and peak RSS with the COCO-Stuff vocabulary, per variant;
* MAFT+ plug-ins (``--plugins``): for a config with a ``text_adapter``
  (Content-Dependent Transfer), its parameters, GFLOPs and latency alone at
  K = 16 selected categories and at all T = 150 (A-150 names, the model's
  templates / synonym slots, the dense map of the benchmark image); for a
  config with ``aux_losses`` (Representation Compensation), the training
  step (forward + backward + AdamW, batch 1, ``--plugin-vocab-size``
  categories) and its peak RSS with and without the aux losses, their
  difference, and the frozen teacher's forward alone;
* text fine-tuning (``--text-finetune``): training time per iteration and
  peak RSS with the text tower frozen, fine-tuned on the full vocabulary
  (all T x P prompts with gradient every step) and fine-tuned through the
  selected + ground-truth categories only (``encode_selected``, the
  default), COCO-Stuff vocabulary, batch ``--train-batch``;
* text (``--text``): cold vs cached vocabulary (time and number of text
  tower forwards) and truncated vs forced full (77-token) context on the
  first ``--text-prompts`` prompts of each vocabulary (per-prompt times and
  the estimated total for all T x P prompts);
* DPSeg (``--dpseg``): at T = ``--dpseg-vocab-size`` (150), the visual
  prompt bank's build time per category (cold, memory cache cleared; the
  prompt source's own scan excluded) and its encoder passes on a repeated
  vocabulary (0 = cache hit), the latency of one round and of two rounds
  with the semantic-guided prompt refinement (cached text embeddings),
  and the decode head's GFLOPs at K = ``--dpseg-decoder-k`` (16)
  categories; models without a bank
  (e.g. SED, the decoder DPSeg's is compared with) fill the decoder
  columns only.

Table II of DCP-CLIP (``--table2``, no config needed): total / learnable
parameters and GFLOPs of CAT-Seg ViT-L, SED ConvNeXt-L and DCP-CLIP ViT-L
(and the ViT-B / ConvNeXt-B rows) beside the paper's values, counted on the
meta device (no weights, seconds; :mod:`dcp_mm.evaluation.complexity`);
printed and
written to ``OUT_DIR/table2.md``.

Outputs: markdown tables on stdout and ``OUT_DIR/benchmark.md``, CSV files
``OUT_DIR/{inference,training,text,plugins_cdt,plugins_rc,dpseg}.csv``, a plot
``OUT_DIR/benchmark.png``.

Example (ViT-B/16 at 384 px)::

    python tools/analysis/benchmark.py configs/dcp/dcp_vitb16_cocostuff.py \
        configs/catseg/catseg_vitb16_cocostuff.py --train --text \
        --out-dir work_dirs/benchmark
"""
import argparse
import csv
import ctypes
import os
import os.path as osp
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

# isort: off
import dcp_mm  # noqa: F401  (compat shims; must precede mmseg)
from dcp_mm.structures import HeadInputs
from dcp_mm.datasets import (ADE20K_150_CLASSES, ADE20K_847_CLASSES,
                             COCO_STUFF_171_CLASSES, PASCAL_CONTEXT_59_CLASSES,
                             PASCAL_CONTEXT_459_CLASSES, PASCAL_VOC_20_CLASSES)
from dcp_mm.engine import check_cfg_options
from dcp_mm.evaluation.complexity import format_table2, table2
# isort: on
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch.utils.flop_counter import FlopCounterMode

VOCABULARIES: Dict[int, Tuple[str, ...]] = {
    20: PASCAL_VOC_20_CLASSES,
    59: PASCAL_CONTEXT_59_CLASSES,
    150: ADE20K_150_CLASSES,
    171: COCO_STUFF_171_CLASSES,
    459: PASCAL_CONTEXT_459_CLASSES,
    847: ADE20K_847_CLASSES,
}
"""Vocabulary size T -> the benchmark's real class names."""

INFER_COLS = ('config', 'variant', 'T', 'K', 'latency_ms', 'encoder_ms',
              'after_encoder_ms', 'GFLOPs', 'encoder_GFLOPs', 'params_M',
              'learnable_M', 'peak_rss_MB')
TRAIN_COLS = ('config', 'variant', 'T', 'K', 'iter_ms', 'peak_rss_MB')
CDT_COLS = ('config', 'img_size', 'grid', 'K', 'P', 'queries', 'params_M',
            'GFLOPs', 'latency_ms')
RC_COLS = ('config', 'img_size', 'T', 'iter_ms', 'iter_ms_without', 'added_ms',
           'teacher_ms', 'peak_rss_MB', 'peak_rss_MB_without', 'added_MB')
TEXT_FT_COLS = ('config', 'text_finetune', 'T', 'P', 'K', 'prompts_with_grad',
                'iter_ms', 'peak_rss_MB')
TEXT_FT_MODES = ('frozen', 'full-vocabulary', 'selected-only')
"""Text fine-tuning modes of ``--text-finetune``."""
TEXT_COLS = ('config', 'T', 'prompts', 'cold_ms', 'cold_forwards', 'cached_ms',
             'cached_forwards', 'sample_prompts', 'truncated_ms_per_prompt',
             'full_ms_per_prompt', 'full_speedup', 'max_abs_diff',
             'est_truncated_s', 'est_full_s')
DPSEG_COLS = ('config', 'T', 'bank_ms_per_category', 'bank_repeat_forwards',
              'latency_ms', 'refined_latency_ms', 'refine_overhead',
              'decoder_K', 'decoder_GFLOPs')


# ----------------------------------------------------------------- helpers
def parse_variant(spec: str) -> Dict[str, Optional[float]]:
    """``'tau=0.5'`` -> dict(tau=0.5, fixed_k=None); ``'k=16'`` ->
    dict(tau=None, fixed_k=16). Raises ValueError on other strings."""
    key, _, value = spec.partition('=')
    try:
        if key == 'tau':
            return dict(tau=float(value), fixed_k=None)
        if key == 'k':
            return dict(tau=None, fixed_k=int(value))
    except ValueError:
        pass
    raise ValueError(f'bad variant {spec!r}: use tau=<float> or k=<int>')


def vocabulary(t: int) -> List[str]:
    """The real class names of the benchmark with T categories."""
    if t not in VOCABULARIES:
        raise ValueError(f'no benchmark vocabulary of size {t}; choose from '
                         f'{sorted(VOCABULARIES)}')
    return list(VOCABULARIES[t])


def _rss_kb(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not in /proc/self/status')


def glibc_return_memory() -> None:
    """Make RSS follow live memory: glibc ``mallopt(M_MMAP_THRESHOLD,
    64 KiB)`` (fixed threshold: big tensors are mmapped and unmapped when
    freed) and ``malloc_trim(0)``. No-op without glibc."""
    try:
        libc = ctypes.CDLL('libc.so.6')
        libc.mallopt(-3, 64 * 1024)  # -3 = M_MMAP_THRESHOLD
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure(fn: Callable[[], object], warmup: int,
            repeats: int) -> Tuple[float, float]:
    """Median wall time (ms) of ``fn`` and its peak RSS increase (MB).

    The peak is the kernel's high-water mark (``VmHWM``), reset before each
    timed call by writing 5 to ``/proc/self/clear_refs`` (Linux >= 4.0);
    the increase is taken over the RSS right before the call.
    """
    for _ in range(warmup):
        fn()
    times, peaks = [], []
    for _ in range(repeats):
        glibc_return_memory()
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        before = _rss_kb('VmRSS')
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
        peaks.append((_rss_kb('VmHWM') - before) / 1024)
    return statistics.median(times), max(peaks)


def build_model(config: str, cfg_options: Optional[dict], img_size: int):
    """Config -> segmentor with random weights, whole mode at img_size."""
    cfg = Config.fromfile(config)
    check_cfg_options(cfg, cfg_options)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.model.pretrained = None
    cfg.model.test_cfg = dict(mode='whole', crop_size=(img_size, img_size))
    cfg.model.data_preprocessor.size = (img_size, img_size)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    model.set_vocabulary(list(COCO_STUFF_171_CLASSES), 'train')
    return model


def has_variants(model) -> bool:
    """Whether the model's selector takes tau / fixed_k (DCS)."""
    return hasattr(model.selector, 'fixed_k') and hasattr(
        model.selector, 'tau')


def set_variant(model, variant: Dict[str, Optional[float]]) -> None:
    """Set tau / fixed_k of the model's DCS selector (no-op otherwise)."""
    if not has_variants(model):
        return
    model.selector.fixed_k = variant['fixed_k']
    if variant['tau'] is not None:
        model.selector.tau = variant['tau']


def count_params(model) -> Tuple[float, float]:
    """(total, learnable) parameters in millions."""
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    learn = sum(p.numel() for p in params if p.requires_grad)
    return total / 1e6, learn / 1e6


def num_selected(model, x: torch.Tensor) -> float:
    """Mean number K of categories the selector passes to the decoder."""
    text = model.text_encoder(model.current_vocabulary())
    selection = model._head_inputs(x, text).selection
    return float(selection.num_selected.float().mean())


def gflops(model, x: torch.Tensor) -> Tuple[float, float]:
    """(total, CLIP image encoder) GFLOPs of one ``model.predict(x)``.

    Counted with :class:`torch.utils.flop_counter.FlopCounterMode` (matmul,
    conv, attention; 1 multiply-add = 2 FLOPs there), reported in fvcore's
    convention (1 multiply-add = 1 FLOP) used by the papers' tables and by
    mmengine's ``FlopAnalyzer``. mmengine's jit-trace-based analyzers cannot
    trace these models (the backbone returns a ``CLIPImageFeatures``
    dataclass and the text encoder takes strings), so the dispatch-based
    counter of torch is used instead. A cached vocabulary costs no FLOPs.
    """
    counter = FlopCounterMode(display=False)
    with counter:
        model.predict(x)
    counts = counter.get_flop_counts()
    total = counter.get_total_flops()
    enc = sum(counts.get(type(model.backbone).__name__, {}).values())
    return total / 2e9, enc / 2e9


# ------------------------------------------------------------- inference
def bench_inference(name: str, model, x: torch.Tensor, sizes: Sequence[int],
                    variants: Sequence[str], args) -> List[dict]:
    """Rows of INFER_COLS for one model over vocabulary sizes and variants.
    """
    model.eval()
    total, learn = count_params(model)
    rows = []
    with torch.no_grad():
        enc_ms, _ = measure(lambda: model.extract_feat(x), args.warmup,
                            args.repeats)
        specs = variants if has_variants(model) else ['all']
        for t in sizes:
            model.set_vocabulary(vocabulary(t), 'test')
            for spec in specs:
                if spec != 'all':
                    set_variant(model, parse_variant(spec))
                k = num_selected(model, x)
                lat, peak = measure(lambda: model.predict(x), args.warmup,
                                    args.repeats)
                flops, enc_flops = ((float('nan'), ) *
                                    2 if args.no_flops else gflops(model, x))
                rows.append(
                    dict(
                        config=name,
                        variant=spec,
                        T=t,
                        K=round(k, 1),
                        latency_ms=round(lat, 1),
                        encoder_ms=round(enc_ms, 1),
                        after_encoder_ms=round(lat - enc_ms, 1),
                        GFLOPs=round(flops, 2),
                        encoder_GFLOPs=round(enc_flops, 2),
                        params_M=round(total, 2),
                        learnable_M=round(learn, 2),
                        peak_rss_MB=round(peak, 1)))
                print(f'[benchmark] {rows[-1]}', flush=True)
    return rows


def stage_times(model, x: torch.Tensor, repeats: int) -> Dict[str, float]:
    """Median ms of each stage of the segmentor's whole-mode flow, run
    stage by stage as in ``OpenVocabEncoderDecoder._head_inputs``; ``rest`` is
    ``predict`` minus the stages (resize, scatter, argmax, TV)."""
    m = model
    out: Dict[str, List[float]] = {}

    def timed(key, fn):
        start = time.perf_counter()
        res = fn()
        out.setdefault(key, []).append((time.perf_counter() - start) * 1e3)
        return res

    with torch.no_grad():
        for _ in range(repeats + 1):  # the first run is a warm-up
            feats = timed('image_encoder', lambda: m.extract_feat(x))
            text = timed('text_encoder(cached)',
                         lambda: m.text_encoder(m.current_vocabulary()))
            text_avg = F.normalize(text.mean(dim=1), dim=-1)  # (T, D)
            sel = timed(
                'selector', lambda: m.selector(feats.cls_embed, feats.
                                               dense_embeds, text_avg))
            text_sel = sel.gather(text)  # (T, P, D) -> (B, K, P, D)
            if m.text_adapter is not None:
                text_sel = timed(
                    'text_adapter',
                    lambda: m.text_adapter(text_sel, feats.dense_embeds))
            cost = timed('neck',
                         lambda: m.neck(feats.dense_embeds, text_sel, sel))
            timed('decode_head',
                  lambda: m.decode_head.forward(HeadInputs(cost, feats, sel)))
            timed('predict', lambda: m.predict(x))
    med = {k: statistics.median(v[1:]) for k, v in out.items()}
    med['rest'] = med['predict'] - sum(
        v for k, v in med.items() if k != 'predict')
    return med


def profile(model, x: torch.Tensor, out_file: str, top: int = 25) -> str:
    """torch.profiler table (by self CPU time) of one ``predict``."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    with torch.no_grad():
        model.predict(x)
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            model.predict(x)
    table = prof.key_averages().table(
        sort_by='self_cpu_time_total', row_limit=top)
    with open(out_file, 'w') as f:
        f.write(table)
    return table


# -------------------------------------------------------------- training
def make_samples(batch: int, size: int, num_gt: int,
                 num_classes: int) -> List[SegDataSample]:
    """Seeded label maps: ``num_gt`` vertical stripes of distinct classes."""
    gen = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(batch):
        cats = torch.randperm(num_classes, generator=gen)[:num_gt]
        cols = torch.arange(size) * num_gt // size  # stripe of each column
        label = cats[cols].expand(size, size)[None].clone()  # (1, H, W)
        ds = SegDataSample(
            metainfo=dict(
                img_shape=(size, size),
                pad_shape=(size, size),
                ori_shape=(size, size)))
        ds.gt_sem_seg = PixelData(data=label.long())
        samples.append(ds)
    return samples


def training_step(model, x: torch.Tensor, samples, optim,
                  ks: List[float]) -> Callable[[], None]:
    """One AdamW step of ``model`` on (x, samples) as a closure for
    :func:`measure`; appends the step's mean K to ``ks``."""

    def step() -> None:
        losses = model.loss(x, samples)
        ks.append(float(losses.pop('num_selected', float('nan'))))
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()

    return step


def bench_training(name: str, model, variants: Sequence[str],
                   args) -> List[dict]:
    """Rows of TRAIN_COLS: AdamW iterations with the COCO-Stuff vocabulary.
    """
    if not has_variants(model):
        variants = ['all']
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(
        args.train_batch, 3, args.img_size, args.img_size, generator=gen)
    samples = make_samples(args.train_batch, args.img_size, args.train_gt,
                           len(COCO_STUFF_171_CLASSES))
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=1e-6)
    model.train()
    rows = []
    for spec in variants:
        if spec != 'all':
            set_variant(model, parse_variant(spec))
        ks = []

        step = training_step(model, x, samples, optim, ks)
        ms, peak = measure(step, args.warmup, args.repeats)
        rows.append(
            dict(
                config=name,
                variant=spec,
                T=len(COCO_STUFF_171_CLASSES),
                K=round(statistics.mean(ks), 1),
                iter_ms=round(ms, 1),
                peak_rss_MB=round(peak, 1)))
        print(f'[benchmark] {rows[-1]}', flush=True)
    model.eval()
    return rows


# --------------------------------------------------------- MAFT+ plug-ins
def bench_text_adapter(name: str,
                       model,
                       x: torch.Tensor,
                       args,
                       ks: Sequence[int] = (16, 150)) -> List[dict]:
    """Rows of CDT_COLS: the text adapter alone on the first K of the
    A-150 names (the model's template / synonym slots P) and the dense map
    of ``x``."""
    adapter = model.text_adapter
    if adapter is None:
        return []
    model.eval()
    with torch.no_grad():
        dense = model.extract_feat(x).dense_embeds  # (1, D, h, w)
        text = model.text_encoder(vocabulary(max(ks)))  # (T, P, D)
    params = sum(p.numel() for p in adapter.parameters()) / 1e6
    per_query = getattr(adapter, 'per_template', True)
    rows = []
    for k in ks:
        sel = text[None, :k]  # (1, K, P, D)

        def run():
            with torch.no_grad():
                return adapter(sel, dense)

        ms, _ = measure(run, args.warmup, args.repeats)
        counter = FlopCounterMode(display=False)
        with counter:
            run()
        rows.append(
            dict(
                config=name,
                img_size=x.shape[-1],
                grid=f'{dense.shape[-2]}x{dense.shape[-1]}',
                K=k,
                P=text.shape[1],
                queries=k * (text.shape[1] if per_query else 1),
                params_M=round(params, 3),
                GFLOPs=round(counter.get_total_flops() / 2e9, 5),
                latency_ms=round(ms, 2)))
    return rows


def bench_text_finetune(name: str, config: str, args) -> List[dict]:
    """Rows of TEXT_FT_COLS: AdamW iterations per text fine-tuning mode.

    ``frozen``: ``text_encoder.finetune='frozen'``; ``selected-only``: the
    config's fine-tuning through ``encode_selected`` (U = selected +
    ground-truth categories); ``full-vocabulary``: the same with every one
    of the T categories encoded with gradient each step (benchmark-only:
    ``encode_selected`` is asked for all T rows). The cached rows of the
    current weights are recomputed without gradient after every step in
    both fine-tuning modes (the weights changed).
    """
    rows = []
    for mode in TEXT_FT_MODES:
        opts = dict(args.cfg_options or {})
        opts['model.text_encoder.finetune'] = ('frozen' if mode == 'frozen'
                                               else 'attention')
        torch.manual_seed(0)
        model = build_model(config, opts, args.img_size)
        enc = model.text_encoder
        prompts = []
        encode = enc.encode_selected

        def encode_counted(names, idx, encode=encode):
            if mode == 'full-vocabulary':
                out = encode(names, torch.arange(len(names)))[idx]
                prompts.append(len(names) * enc.num_templates)
                return out
            prompts.append(len(idx) * enc.num_templates)
            return encode(names, idx)

        enc.encode_selected = encode_counted
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(
            args.train_batch, 3, args.img_size, args.img_size, generator=gen)
        samples = make_samples(args.train_batch, args.img_size, args.train_gt,
                               len(COCO_STUFF_171_CLASSES))
        optim = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=1e-6)
        model.train()
        ks = []

        step = training_step(model, x, samples, optim, ks)
        ms, peak = measure(step, args.warmup, args.repeats)
        rows.append(
            dict(
                config=name,
                text_finetune=mode,
                T=len(COCO_STUFF_171_CLASSES),
                P=enc.num_templates,
                K=round(statistics.mean(ks), 1),
                prompts_with_grad=max(prompts) if prompts else 0,
                iter_ms=round(ms, 1),
                peak_rss_MB=round(peak, 1)))
        print(f'[benchmark] {rows[-1]}', flush=True)
    return rows


def bench_aux_losses(name: str, model, args) -> List[dict]:
    """Rows of RC_COLS: training step with and without the aux losses
    (batch 1, ``args.plugin_vocab_size`` categories), and the teachers'
    forward alone."""
    aux = model.aux_losses
    if len(aux) == 0:
        return []
    t = args.plugin_vocab_size
    model.set_vocabulary(vocabulary(t), 'train')
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, args.img_size, args.img_size, generator=gen)
    samples = make_samples(1, args.img_size, min(args.train_gt, t), t)
    optim = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-6)
    model.train()

    def step():
        losses = model.loss(x, samples)
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()

    # one untimed step first: AdamW state and the cached vocabulary would
    # otherwise be charged to the first (with-aux) measurement
    step()
    try:
        with_ms, with_mb = measure(step, args.warmup, args.repeats)
        model.aux_losses = nn.ModuleList()
        without_ms, without_mb = measure(step, args.warmup, args.repeats)
    finally:
        model.aux_losses = aux
        model.set_vocabulary(list(COCO_STUFF_171_CLASSES), 'train')

    def teachers():
        with torch.no_grad():
            for loss in aux:
                if getattr(loss, 'teacher', None) is not None:
                    loss.teacher(x)

    teacher_ms, _ = measure(teachers, args.warmup, args.repeats)
    model.eval()
    row = dict(
        config=name,
        img_size=args.img_size,
        T=t,
        iter_ms=round(with_ms, 1),
        iter_ms_without=round(without_ms, 1),
        added_ms=round(with_ms - without_ms, 1),
        teacher_ms=round(teacher_ms, 1),
        peak_rss_MB=round(with_mb, 1),
        peak_rss_MB_without=round(without_mb, 1),
        added_MB=round(with_mb - without_mb, 1))
    print(f'[benchmark] {row}', flush=True)
    return [row]


# ------------------------------------------------------------------ text
# ----------------------------------------------------------------- DPSeg
def decoder_gflops(model, x: torch.Tensor,
                   names: Sequence[str]) -> Tuple[int, float]:
    """(K, GFLOPs) of the decode head alone on the categories ``names``
    (fvcore convention, see :func:`gflops`)."""
    model.set_vocabulary(list(names), 'test')
    text = model.text_encoder(model.current_vocabulary())
    head_inputs = model._head_inputs(x, text)
    counter = FlopCounterMode(display=False)
    with counter:
        model.decode_head.forward(head_inputs)
    k = int(head_inputs.selection.indices.shape[1])
    return k, counter.get_total_flops() / 2e9


def bench_dpseg(name: str, model, x: torch.Tensor, args) -> List[dict]:
    """One row of DPSEG_COLS: prompt bank, refinement cost, decoder FLOPs.
    """
    model.eval()
    nan = float('nan')
    t = args.dpseg_vocab_size
    names = vocabulary(t)
    row = dict(config=name, T=t)
    bank = getattr(model, 'visual_prompt_bank', None)
    with torch.no_grad():
        if bank is not None:
            # the source's one-off work (a dataset scan), not timed
            bank.source(names, bank.num_prompts)
            bank.clear_cache()
            start = time.perf_counter()
            bank(names)
            row['bank_ms_per_category'] = round(
                (time.perf_counter() - start) * 1e3 / t, 2)
            before = bank.num_image_forwards
            bank(names)
            row['bank_repeat_forwards'] = bank.num_image_forwards - before
        model.set_vocabulary(names, 'test')
        model.text_encoder(names)  # cached vocabulary, as the other tables
        refiner = getattr(model, 'prompt_refiner', None)
        if refiner is not None:
            model.prompt_refiner = None
        one, _ = measure(lambda: model.predict(x), args.warmup, args.repeats)
        row['latency_ms'] = round(one, 1)
        if refiner is not None:
            model.prompt_refiner = refiner
            two, _ = measure(lambda: model.predict(x), args.warmup,
                             args.repeats)
            row['refined_latency_ms'] = round(two, 1)
            row['refine_overhead'] = round(two / one, 2)
        k, flops = decoder_gflops(model, x, names[:args.dpseg_decoder_k])
        row.update(decoder_K=k, decoder_GFLOPs=round(flops, 3))
    for col in DPSEG_COLS:
        row.setdefault(col, nan)
    print(f'[benchmark] {row}', flush=True)
    return [row]


def embed_prompts(encoder, prompts: Sequence[str],
                  full_context: bool) -> torch.Tensor:
    """(M,) prompts -> (M, D) L2-normalised, through ``encoder.text`` on the
    truncated context (shortest prefix holding every EOT of a chunk, what
    :class:`OpenCLIPTextEncoder` runs) or the full 77-token context."""
    outs = []
    for start in range(0, len(prompts), encoder.chunk_size):
        tokens = encoder.tokenizer(
            list(prompts[start:start + encoder.chunk_size]))
        if not full_context:
            tokens = tokens[:, :int(tokens.argmax(dim=-1).max()) + 1]
        outs.append(encoder.text(tokens))
    return F.normalize(torch.cat(outs), dim=-1)


def bench_text(name: str, model, sizes: Sequence[int], args) -> List[dict]:
    """Rows of TEXT_COLS: cold / cached vocabulary, truncated / full."""
    enc = model.text_encoder
    enc.eval()
    rows = []
    with torch.no_grad():
        for t in sizes:
            names = vocabulary(t)
            prompts = [
                tpl.format(n.split(',')[0].strip()) for n in names
                for tpl in enc.templates
            ]
            enc.clear_cache()
            n0 = enc.num_text_forwards
            start = time.perf_counter()
            enc(names)
            cold = (time.perf_counter() - start) * 1e3
            n1 = enc.num_text_forwards
            start = time.perf_counter()
            enc(names)
            cached = (time.perf_counter() - start) * 1e3
            n2 = enc.num_text_forwards
            sample = prompts[:args.text_prompts or len(prompts)]
            trunc_ms, _ = measure(lambda: embed_prompts(enc, sample, False), 0,
                                  args.repeats)
            full_ms, _ = measure(lambda: embed_prompts(enc, sample, True), 0,
                                 args.repeats)
            diff = (embed_prompts(enc, sample, False) -
                    embed_prompts(enc, sample, True)).abs().max()
            per_t, per_f = trunc_ms / len(sample), full_ms / len(sample)
            rows.append(
                dict(
                    config=name,
                    T=t,
                    prompts=len(prompts),
                    cold_ms=round(cold, 1),
                    cold_forwards=n1 - n0,
                    cached_ms=round(cached, 2),
                    cached_forwards=n2 - n1,
                    sample_prompts=len(sample),
                    truncated_ms_per_prompt=round(per_t, 3),
                    full_ms_per_prompt=round(per_f, 3),
                    full_speedup=round(per_f / per_t, 2),
                    max_abs_diff=float(f'{float(diff):.2e}'),
                    est_truncated_s=round(per_t * len(prompts) / 1e3, 1),
                    est_full_s=round(per_f * len(prompts) / 1e3, 1)))
            print(f'[benchmark] {rows[-1]}', flush=True)
    return rows


# --------------------------------------------------------------- outputs
def markdown(rows: Sequence[dict], cols: Sequence[str]) -> str:
    """Rows -> a markdown table (one line per row)."""
    lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    for r in rows:
        lines.append('| ' + ' | '.join(str(r[c]) for c in cols) + ' |')
    return '\n'.join(lines)


def write_csv(path: str, rows: Sequence[dict], cols: Sequence[str]) -> None:
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(cols))
        writer.writeheader()
        writer.writerows(rows)


def plot(path: str, rows: Sequence[dict]) -> None:
    """Latency, GFLOPs and K versus T, one line per (config, variant)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = ('latency_ms', 'GFLOPs', 'K')
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4))
    lines = sorted({(r['config'], r['variant']) for r in rows})
    for ax, key in zip(axes, keys):
        for cfg, var in lines:
            pts = [(r['T'], r[key]) for r in rows
                   if (r['config'], r['variant']) == (cfg, var)]
            ax.plot(*zip(*pts), marker='o', label=f'{cfg} {var}')
        ax.set_xlabel('vocabulary size T')
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _find(rows, **kw) -> Optional[dict]:
    for r in rows:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def check_targets(infer: Sequence[dict], train: Sequence[dict], dcp: str,
                  baseline: Optional[str], k_variant: str) -> str:
    """The issue's targets as measured ratios (markdown lines)."""
    out = []

    def line(what, value, target, ok):
        mark = 'MET' if ok else 'MISSED'
        out.append(f'- {what}: {value:.2f} (target {target}) -> {mark}')

    a = _find(infer, config=dcp, variant='tau=0', T=847)
    b = _find(infer, config=dcp, variant=k_variant, T=847)
    if a and b:
        r = a['latency_ms'] / b['latency_ms']
        line(f'A-847 latency tau=0 / {k_variant}', r, '>= 2.5', r >= 2.5)
    c = baseline and _find(infer, config=baseline, T=150)
    d = _find(infer, config=dcp, variant=k_variant, T=150)
    if c and d:
        r = c['latency_ms'] / d['latency_ms']
        line(f'A-150 latency {baseline} / {dcp} {k_variant}', r, '>= 2.7', r
             >= 2.7)
        r = c['GFLOPs'] / d['GFLOPs']
        line(f'A-150 GFLOPs {baseline} / {dcp} {k_variant}', r, '>= 3.4', r
             >= 3.4)
    for var in ('tau=0.5', k_variant):
        e = _find(train, config=dcp, variant='tau=0')
        f = _find(train, config=dcp, variant=var)
        if e and f and var != 'tau=0':
            r = f['peak_rss_MB'] / max(e['peak_rss_MB'], 1e-9)
            line(f'training peak RSS {var} / tau=0 (K {f["K"]} vs {e["K"]})',
                 r, '<= 0.66', r <= 0.66)
    for r in infer:
        if r['config'] == dcp and r['variant'] == k_variant:
            q = r['after_encoder_ms'] / r['encoder_ms']
            line(f'T={r["T"]} after-encoder / encoder at {k_variant}', q,
                 '< 0.5', q < 0.5)
    return '\n'.join(out)


def report_profile(name: str, model, x: torch.Tensor, point: str, out_dir: str,
                   repeats: int) -> None:
    """Print stage times and the profiler table at ``T:VARIANT``."""
    t, _, spec = point.partition(':')
    model.eval()
    model.set_vocabulary(vocabulary(int(t)), 'test')
    if spec:
        set_variant(model, parse_variant(spec))
    stages = stage_times(model, x, repeats)
    print(f'[benchmark] stages (ms) {name} T={t} {spec}: ' +
          ', '.join(f'{k}={v:.1f}' for k, v in stages.items()))
    tag = f'{name}_T{t}_{spec.replace("=", "")}'
    table = profile(model, x, osp.join(out_dir, f'profile_{tag}.txt'))
    print(f'[benchmark] profile {tag}:\n{table}')


# ------------------------------------------------------------------- CLI
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Latency / GFLOPs / params / memory / K of several '
        'configs versus vocabulary size and tau (random weights).')
    parser.add_argument(
        'configs', nargs='*', help='config files (not needed for --table2)')
    parser.add_argument(
        '--table2',
        action='store_true',
        help="reproduce DCP-CLIP Table II (params / GFLOPs beside the "
        "paper's) on the meta device and exit")
    parser.add_argument(
        '--table2-categories',
        type=int,
        default=150,
        help='categories K per view for the Table II GFLOPs (A-150: 150)')
    parser.add_argument(
        '--names', nargs='+', help='display names (default: file stems)')
    parser.add_argument(
        '--vocab-sizes',
        nargs='+',
        type=int,
        default=sorted(VOCABULARIES),
        help=f'vocabulary sizes T, from {sorted(VOCABULARIES)}')
    parser.add_argument(
        '--variants',
        nargs='+',
        default=['tau=0', 'tau=0.5', 'k=16'],
        help='selector variants: tau=<float> or k=<int> (fixed K)')
    parser.add_argument(
        '--baseline-vocab-sizes',
        nargs='+',
        type=int,
        help='vocabulary sizes for configs without DCS (default: '
        '--vocab-sizes)')
    parser.add_argument(
        '--train-variants',
        nargs='+',
        help='selector variants of the training table (default: '
        '--variants)')
    parser.add_argument('--img-size', type=int, default=384)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--no-flops', action='store_true')
    parser.add_argument(
        '--no-inference',
        action='store_true',
        help='skip the inference table (text / training only)')
    parser.add_argument(
        '--train', action='store_true', help='measure training cost')
    parser.add_argument('--train-batch', type=int, default=1)
    parser.add_argument(
        '--train-gt',
        type=int,
        default=8,
        help='ground-truth categories per training image')
    parser.add_argument(
        '--plugins',
        action='store_true',
        help='measure the MAFT+ plug-ins of each config: the text adapter '
        '(CDT) alone at K = 16 and T = 150, and the training step with and '
        'without the aux losses (RC teacher)')
    parser.add_argument(
        '--plugin-vocab-size',
        type=int,
        default=20,
        help='vocabulary size T of the --plugins training steps')
    parser.add_argument(
        '--text', action='store_true', help='measure the text side')
    parser.add_argument(
        '--text-finetune',
        action='store_true',
        help='training cost of frozen / full-vocabulary / selected-only '
        'text fine-tuning')
    parser.add_argument(
        '--text-prompts',
        type=int,
        default=512,
        help='prompts timed for truncated vs full context (0 = all)')
    parser.add_argument(
        '--profile',
        nargs='+',
        default=[],
        metavar='T:VARIANT',
        help='per-stage times and a torch.profiler table of each config at '
        'these points, e.g. 847:k=16 847:tau=0')
    parser.add_argument(
        '--dpseg',
        action='store_true',
        help='DPSeg table: prompt bank build time, latency with and '
        'without prompt refinement, decoder GFLOPs')
    parser.add_argument('--dpseg-vocab-size', type=int, default=150)
    parser.add_argument('--dpseg-decoder-k', type=int, default=16)
    parser.add_argument('--threads', type=int, help='torch threads')
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every config (e.g. the tiny test '
        'architecture)')
    args = parser.parse_args(argv)
    if not args.configs and not args.table2:
        parser.error('give config files, or --table2')
    if args.table2_categories < 1:
        parser.error('--table2-categories must be >= 1')
    if args.names and len(args.names) != len(args.configs):
        parser.error('--names needs one name per config')
    for t in args.vocab_sizes + (args.baseline_vocab_sizes or []) + [
            args.plugin_vocab_size, args.dpseg_vocab_size
    ]:
        if t not in VOCABULARIES:
            parser.error(f'--vocab-sizes: {t} is not one of '
                         f'{sorted(VOCABULARIES)}')
    try:
        for spec in args.variants + (args.train_variants or []):
            parse_variant(spec)
        for point in args.profile:
            t, _, spec = point.partition(':')
            vocabulary(int(t))
            if spec:
                parse_variant(spec)
    except ValueError as exc:
        parser.error(str(exc))
    if args.repeats < 1 or args.warmup < 0:
        parser.error('--repeats must be >= 1 and --warmup >= 0')
    if not 1 <= args.dpseg_decoder_k <= args.dpseg_vocab_size:
        parser.error('--dpseg-decoder-k must be in [1, --dpseg-vocab-size]')
    for cfg in args.configs:
        if not osp.isfile(cfg):
            parser.error(f'config {cfg} not found')
    return args


def main(argv=None) -> Dict[str, List[dict]]:
    """Run the benchmark; returns the rows of the three tables."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.names or [
        osp.splitext(osp.basename(c))[0] for c in args.configs
    ]
    os.makedirs(args.out_dir, exist_ok=True)
    if args.table2:
        rows = table2(num_categories=args.table2_categories)
        report = ('# DCP-CLIP Table II (A-150), ours vs the paper\n\n' +
                  format_table2(rows))
        print(report)
        with open(osp.join(args.out_dir, 'table2.md'), 'w') as f:
            f.write(report + '\n')
        return dict(table2=rows)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, args.img_size, args.img_size, generator=gen)
    infer, train, text, cdt, rc, text_ft, dpseg = [], [], [], [], [], [], []
    for name, config in zip(names, args.configs):
        torch.manual_seed(0)
        model = build_model(config, args.cfg_options, args.img_size)
        sizes = args.vocab_sizes
        if not has_variants(model) and args.baseline_vocab_sizes:
            sizes = args.baseline_vocab_sizes
        if not args.no_inference:
            infer += bench_inference(name, model, x, sizes, args.variants,
                                     args)
        for point in args.profile:
            if int(point.partition(':')[0]) not in sizes:
                continue  # only at this config's vocabulary sizes
            report_profile(name, model, x, point, args.out_dir, args.repeats)
        if args.plugins:
            cdt += bench_text_adapter(name, model, x, args)
            rc += bench_aux_losses(name, model, args)
        if args.text:
            text += bench_text(name, model, args.vocab_sizes, args)
        if args.dpseg:
            dpseg += bench_dpseg(name, model, x, args)
        if args.train:
            train += bench_training(name, model, args.train_variants
                                    or args.variants, args)
        del model
        if args.text_finetune:
            text_ft += bench_text_finetune(name, config, args)
    dcp = names[0]
    baseline = next((n for n in names if 'catseg' in n.lower()), None)
    k_var = next((v for v in args.variants if v.startswith('k=')), 'k=16')
    report = [
        f'# Benchmark ({args.img_size} px, whole mode, batch 1, random '
        f'weights, median of {args.repeats}, {torch.get_num_threads()} '
        'threads)'
    ]
    if infer or not args.no_inference:
        report += ['', '## Inference', '', markdown(infer, INFER_COLS)]
    write_csv(osp.join(args.out_dir, 'inference.csv'), infer, INFER_COLS)
    if train:
        report += [
            '', '## Training (COCO-Stuff vocabulary)', '',
            markdown(train, TRAIN_COLS)
        ]
        write_csv(osp.join(args.out_dir, 'training.csv'), train, TRAIN_COLS)
    if cdt:
        report += [
            '', '## MAFT+ Content-Dependent Transfer alone (added to the '
            'model)', '',
            markdown(cdt, CDT_COLS)
        ]
        write_csv(osp.join(args.out_dir, 'plugins_cdt.csv'), cdt, CDT_COLS)
    if rc:
        report += [
            '', '## MAFT+ Representation Compensation: training step with / '
            'without (teacher added)', '',
            markdown(rc, RC_COLS)
        ]
        write_csv(osp.join(args.out_dir, 'plugins_rc.csv'), rc, RC_COLS)
    if text:
        report += ['', '## Text encoder', '', markdown(text, TEXT_COLS)]
        write_csv(osp.join(args.out_dir, 'text.csv'), text, TEXT_COLS)
    if dpseg:
        report += [
            '', '## DPSeg (visual prompts, refinement, decoder)', '',
            markdown(dpseg, DPSEG_COLS)
        ]
        write_csv(osp.join(args.out_dir, 'dpseg.csv'), dpseg, DPSEG_COLS)
    if text_ft:
        report += [
            '', '## Text fine-tuning (COCO-Stuff vocabulary)', '',
            markdown(text_ft, TEXT_FT_COLS)
        ]
        write_csv(
            osp.join(args.out_dir, 'text_finetune.csv'), text_ft, TEXT_FT_COLS)
    targets = check_targets(infer, train, dcp, baseline, k_var)
    if targets:
        report += ['', '## Targets', '', targets]
    report = '\n'.join(report)
    print(report)
    with open(osp.join(args.out_dir, 'benchmark.md'), 'w') as f:
        f.write(report + '\n')
    if infer:
        plot(osp.join(args.out_dir, 'benchmark.png'), infer)
    return dict(
        cdt=cdt,
        rc=rc,
        inference=infer,
        training=train,
        text=text,
        text_finetune=text_ft,
        dpseg=dpseg)


if __name__ == '__main__':
    main()
