"""Prompt templates for CLIP text embeddings and class-name synonyms.

Named template sets:
    ``'imagenet80'``: the 80 prompts OpenAI used for ImageNet zero-shot
    classification (open_clip's ``OPENAI_IMAGENET_TEMPLATES``).
    ``'single'``: ``['A photo of a {} in the scene']`` (CAT-Seg's
    ``PROMPT_ENSEMBLE_TYPE: single``).
    ``'vild14'``: the 14 ViLD prompts MAFT+ uses (``VILD_PROMPT`` of
    github.com/jiaosiyu1999/MAFT-Plus ``maft/utils/text_templetes.py``,
    MIT), verbatim (some lack the final period, as there).
A custom list of strings, each with exactly one ``'{}'`` slot, is also
accepted.
"""
from typing import List, Sequence, Union

import open_clip

TemplatesLike = Union[str, Sequence[str]]

TEMPLATE_SETS = ('imagenet80', 'single', 'vild14')

VILD_TEMPLATES = (
    'a photo of a {}.',
    'This is a photo of a {}',
    'There is a {} in the scene',
    'There is the {} in the scene',
    'a photo of a {} in the scene',
    'a photo of a small {}.',
    'a photo of a medium {}.',
    'a photo of a large {}.',
    'This is a photo of a small {}.',
    'This is a photo of a medium {}.',
    'This is a photo of a large {}.',
    'There is a small {} in the scene.',
    'There is a medium {} in the scene.',
    'There is a large {} in the scene.',
)


def resolve_templates(spec: TemplatesLike) -> List[str]:
    """Turn a template-set name or a list of templates into P templates.

    Args:
        spec: ``'imagenet80'``, ``'single'``, ``'vild14'`` or a sequence of
            strings, each
            containing ``'{}'`` once (the class-name slot).

    Returns:
        List of P template strings.

    Raises:
        ValueError: unknown name, empty list, a template without exactly one
            ``'{}'`` or duplicated templates.
        TypeError: non-string entries.
    """
    if isinstance(spec, str):
        if spec == 'imagenet80':
            return [t('{}') for t in open_clip.OPENAI_IMAGENET_TEMPLATES]
        if spec == 'single':
            return ['A photo of a {} in the scene']
        if spec == 'vild14':
            return list(VILD_TEMPLATES)
        raise ValueError(
            f'unknown template set {spec!r}: use one of {TEMPLATE_SETS} or a '
            "list of strings such as ['a photo of a {}.'].")
    templates = list(spec)
    if not templates:
        raise ValueError('templates is an empty list: give at least one '
                         "template such as 'a photo of a {}.'")
    bad = [t for t in templates if not isinstance(t, str)]
    if bad:
        raise TypeError(f'templates must be strings, got {bad[:3]}')
    bad = [t for t in templates if t.count('{}') != 1]
    if bad:
        raise ValueError(
            f'every template needs exactly one {{}} slot for the class '
            f'name; bad templates: {bad[:3]}')
    if len(set(templates)) != len(templates):
        raise ValueError(f'templates has duplicates: {templates}')
    return templates
