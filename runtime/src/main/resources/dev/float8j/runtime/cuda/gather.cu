// The layout step of the NCCL all-gather of FP8 weights (NcclCommunicator), compiled at run time by NVRTC.
//
// A weight [N, K] is sharded along N; each rank quantized its shard (rowsPerRank rows) along K. Rowwise and 1xT-tile
// scales are stored [tiles][ldScale] with the free index (the row) fastest (cast.cu), so the concatenation of the
// ranks' scale arrays that ncclAllGather produces, [ranks][tiles][ldShard], is not the full weight's layout
// [tiles][ldOut]: this kernel moves every scale to its place, and writes 0 for rows past the real ones.

#include "common.cuh"

extern "C" __global__ void gather_tile_scales(const float* gathered, int ranks, int tiles, int ldShard, int rowsPerRank,
        int realRows, float* out, int ldOut) {
    long total = (long) tiles * ldOut;
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < total; i += (long) gridDim.x * blockDim.x) {
        int tile = (int) (i / ldOut);
        int row = (int) (i % ldOut);
        float v = 0.0f;
        if (row < realRows) {
            int rank = row / rowsPerRank;
            v = gathered[((long) rank * tiles + tile) * ldShard + row % rowsPerRank];
        }
        out[i] = v;
    }
}
