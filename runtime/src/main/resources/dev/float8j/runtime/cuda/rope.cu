// Rotary position embedding, "rotate half" pairing: element i of each head with element i + headDim/2.
// At position s the pair turns by s * theta^(-2i/headDim) (sign -1: back, which is the forward's backward).
#include "common.cuh"

struct RopeArgs {
    int seq;       // positions per sequence; row r is at position r % seq
    int heads;     // heads in a row (query or key/value heads)
    int headDim;
    float log2Theta;
    float sign;    // 1 forward, -1 inverse
};

// One thread per pair; x and y F32 or BF16 (dtype), [rows, heads * headDim].
extern "C" __global__ void rope(const void* x, void* y, int dtype, long rows, RopeArgs a) {
    int half = a.headDim / 2;
    long pairs = rows * a.heads * half;
    for (long p = blockIdx.x * (long) blockDim.x + threadIdx.x; p < pairs; p += (long) gridDim.x * blockDim.x) {
        int i = (int) (p % half);
        long rowHead = p / half;
        long row = rowHead / a.heads;
        int position = (int) (row % a.seq);
        long base = rowHead * a.headDim;
        float frequency = exp2f(-2.0f * i / a.headDim * a.log2Theta);
        float s, c;
        sincosf(a.sign * position * frequency, &s, &c);
        float lo = load_elem(x, base + i, dtype);
        float hi = load_elem(x, base + i + half, dtype);
        store_elem(y, base + i, dtype, lo * c - hi * s);
        store_elem(y, base + i + half, dtype, lo * s + hi * c);
    }
}

// The layout of RopeArgs, as CudaModelOps.java checks it at load time.
extern "C" __global__ void rope_layout(long long* out) {
    int i = 0;
    LAYOUT_SIZE(RopeArgs);
    LAYOUT_FIELD(RopeArgs, seq); LAYOUT_FIELD(RopeArgs, heads); LAYOUT_FIELD(RopeArgs, headDim);
    LAYOUT_FIELD(RopeArgs, log2Theta); LAYOUT_FIELD(RopeArgs, sign);
}
