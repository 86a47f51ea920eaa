"""Generate DPSeg's visual prompts with Stable Diffusion (optional).

DPSeg (Zhao et al., CVPR 2025) generates one image per category k and text
template m with Stable Diffusion, from the same prompt as the text branch
("a photo of a {C_k}."); the SD version and sampling settings of the main
table are not stated (the paper compares SD-v1.5, SD-v3 and LayerDiffuse).
This script writes those images in the layout that
:class:`~dcp_mm.models.prompt_banks.ImageFolderPromptSource` reads::

    OUT/<category folder>/<template index, 3 digits>.png

so that image m pairs with template m. It needs ``diffusers`` and SD
weights, which dcp_mm does not install or download for you; nothing in the
tests needs it. ``--dry-run`` lists the prompts and paths without diffusers.

Example (weights in the local Hugging Face cache or a local folder)::

    pip install diffusers transformers accelerate
    python tools/dpseg/generate_visual_prompts.py --dataset cocostuff \\
        --templates imagenet80 --out data/dpseg_prompts/cocostuff \\
        --model runwayml/stable-diffusion-v1-5 --steps 25 --size 512

then train with a leaf config that swaps the prompt source::

    _base_ = './dpseg_convnextb_cocostuff.py'
    model = dict(visual_prompt_bank=dict(source=dict(
        _delete_=True, type='ImageFolderPromptSource',
        root='data/dpseg_prompts/cocostuff')))

Existing images
are kept (the run resumes); ``--overwrite`` regenerates them.
"""
import argparse
import os.path as osp
import sys
from pathlib import Path
from typing import List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# isort: off
import dcp_mm  # noqa: E402,F401
from dcp_mm.datasets import class_names  # noqa: E402
from dcp_mm.models.utils.prompt_templates import (  # noqa: E402
    TEMPLATE_SETS, resolve_templates, split_synonyms)
from dcp_mm.models.utils.vocabulary import load_vocabulary  # noqa: E402
from dcp_mm.models.prompt_banks import ImageFolderPromptSource  # noqa: E402
# isort: on

DATASETS = dict(
    cocostuff=class_names.COCO_STUFF_171_CLASSES,
    ade150=class_names.ADE20K_150_CLASSES,
    ade847=class_names.ADE20K_847_CLASSES,
    pc59=class_names.PASCAL_CONTEXT_59_CLASSES,
    pc459=class_names.PASCAL_CONTEXT_459_CLASSES,
    voc20=class_names.PASCAL_VOC_20_CLASSES)
"""Vocabularies by benchmark name."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate DPSeg visual prompts with Stable Diffusion')
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--dataset', choices=sorted(DATASETS))
    src.add_argument(
        '--vocabulary', help='text file with one category name per line')
    parser.add_argument(
        '--templates',
        default='imagenet80',
        help=f'one of {TEMPLATE_SETS} (the text encoder\'s templates)')
    parser.add_argument(
        '--num-templates',
        type=int,
        default=None,
        help='use only the first N templates (prompt slots M = N)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--model',
        default='runwayml/stable-diffusion-v1-5',
        help='diffusers model id or local folder')
    parser.add_argument('--steps', type=int, default=25)
    parser.add_argument('--guidance', type=float, default=7.5)
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--overwrite', action='store_true')
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='print the prompts and paths, generate nothing')
    return parser.parse_args(argv)


def plan(names: Sequence[str], templates: Sequence[str],
         out: str) -> List[Tuple[str, str]]:
    """(prompt, output path) per category and template; the prompt uses
    the category's first synonym."""
    jobs = []
    for name in names:
        folder = osp.join(out, ImageFolderPromptSource.folder_name(name))
        label = split_synonyms(name)[0]
        for m, template in enumerate(templates):
            jobs.append(
                (template.format(label), osp.join(folder, f'{m:03d}.png')))
    return jobs


def main(argv=None) -> List[Tuple[str, str]]:
    args = parse_args(argv)
    names = list(DATASETS[args.dataset]) if args.dataset else \
        load_vocabulary(args.vocabulary)
    templates = resolve_templates(args.templates)[:args.num_templates]
    jobs = plan(names, templates, args.out)
    todo = [j for j in jobs if args.overwrite or not osp.isfile(j[1])]
    print(f'{len(names)} categories x {len(templates)} templates: '
          f'{len(jobs)} images, {len(todo)} to generate')
    if args.dry_run:
        for prompt, path in todo:
            print(f'{path}\t{prompt}')
        return todo
    try:
        import torch
        from diffusers import StableDiffusionPipeline
    except ImportError as e:
        raise SystemExit(
            f'generating needs diffusers ({e}); pip install diffusers '
            'transformers accelerate, or bring your own images in '
            'OUT/<category>/*.png') from e
    pipe = StableDiffusionPipeline.from_pretrained(args.model).to(args.device)
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator(args.device).manual_seed(args.seed)
    for i, (prompt, path) in enumerate(todo):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        image = pipe(
            prompt,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            height=args.size,
            width=args.size,
            generator=generator).images[0]
        image.save(path)
        if i % 50 == 0:
            print(f'[{i + 1}/{len(todo)}] {path}')
    return todo


if __name__ == '__main__':
    main()
