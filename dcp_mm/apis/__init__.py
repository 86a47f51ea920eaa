"""dcp_mm.apis: benchmark evaluation helpers (and, later, inferencers)."""
from .benchmarks import (BENCHMARKS, benchmark_config, format_summary,
                         resolve_benchmarks, run_benchmarks, write_summary)

__all__ = [
    'BENCHMARKS', 'benchmark_config', 'format_summary', 'resolve_benchmarks',
    'run_benchmarks', 'write_summary'
]
from .inferencer import OVSegInferencer, vocabulary_palette  # noqa: E402

__all__ += ['OVSegInferencer', 'vocabulary_palette']
