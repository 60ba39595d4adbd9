"""Where the fused kernel's time goes: each stage of one sample, on one thread.

The loop of ``mcflow._kernels.histogram_chunks`` for the seed's case (Y = exp(X), 200 uniform
bins on [0, 20)) is rebuilt here with the engine's own functions, cut after each stage:

1. ``fill_block``: 512 standard normals from the SIMD generator;
2. + ``mu + sigma z`` and the exp block (``basic_forward_block``);
3. + ``bin_block``: the whole sample.

Each stage's cost is the difference to the one before (best of 5 timings of 1e8 samples).
The script checks its own result: stage 3's counts must hold every sample of its last run.
Run ``python bench/stages.py``; the exit code is 1 when the counts do not add up.
"""

from __future__ import annotations

import sys
import time

import numba
import numpy as np
from numba import njit

from mcflow import _bin_block, _binning, _ops, _ops_table
from mcflow._rng import BLOCK, CHUNK_SIZE, STATE_WORDS, block_scratch, fill_block, seed_chunk_state

BLOCKS = 200_000  # 1.02e8 samples per timing
EDGES = np.linspace(0.0, 20.0, 201)
PROGRAM = np.array([_ops_table.EXP], dtype=np.int64)
PARAMS = np.zeros((1, 2))
BLOCKS_PER_CHUNK = CHUNK_SIZE // BLOCK


@njit
def _run(stage, blocks, words, flags, positions, row):
    state = np.zeros(STATE_WORDS, dtype=np.uint64)
    scratch = (words, flags, positions)
    buffer = np.empty(BLOCK)
    slots = np.empty(BLOCK, dtype=np.int64)
    cell_bins = np.zeros(1, dtype=np.int64)
    scale = (EDGES.size - 1) / (EDGES[-1] - EDGES[0])
    checksum = 0.0
    for block in range(blocks):
        if block % BLOCKS_PER_CHUNK == 0:
            seed_chunk_state(np.uint64(1), block // BLOCKS_PER_CHUNK, state)
        fill_block(state, scratch, buffer)
        if stage >= 2:
            for i in range(BLOCK):
                buffer[i] = 0.0 + 1.0 * buffer[i]
            _ops.basic_forward_block(PROGRAM, PARAMS, buffer, BLOCK)
        if stage >= 3:
            _bin_block.bin_block(buffer, BLOCK, EDGES[0], EDGES[-1], scale, EDGES, cell_bins,
                                 _binning.LOOKUP_UNIFORM, row, slots)
        checksum += buffer[7]  # keeps every stage's values live
    return checksum


def main() -> int:
    numba.set_num_threads(1)
    words, flags, positions = block_scratch()
    previous = 0.0
    names = {1: "normals (fill_block)", 2: "mu + sigma z, exp", 3: "binning (bin_block)"}
    print("| stage | ns/sample (cumulative) | ns/sample (this stage) |\n|---|---|---|")
    row = np.zeros(EDGES.size + 4, dtype=np.int64)
    for stage in (1, 2, 3):
        _run(stage, 2, words, flags, positions, row)
        best = np.inf
        for _ in range(5):
            row[:] = 0
            start = time.perf_counter()
            _run(stage, BLOCKS, words, flags, positions, row)
            best = min(best, time.perf_counter() - start)
        total = best / (BLOCKS * BLOCK) * 1e9
        print(f"| {names[stage]} | {total:.2f} | {total - previous:.2f} |")
        previous = total
    counted = int(row.sum())
    print(f"\ncounted {counted:,} of {BLOCKS * BLOCK:,} samples in the last run")
    return 0 if counted == BLOCKS * BLOCK else 1


if __name__ == "__main__":
    sys.exit(main())
