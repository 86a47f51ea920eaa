"""Text adapters: image-conditioned changes of the text embeddings, run
between the category selection and the cost volume."""
from .content_dependent_transfer import ContentDependentTransfer

__all__ = ['ContentDependentTransfer']
