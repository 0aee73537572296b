// Token embedding: a gather of table rows forward, a deterministic scatter-add backward.
// The backward reads the batch's ids sorted by value (done on the host when the batch is uploaded): each block
// owns one distinct id, sums the gradient rows of its tokens in a fixed order and adds the sum once, so repeated
// ids need no atomics and the result is the same bits every run.
#include "common.cuh"

// Vectors of 4 elements a thread keeps in flight: its loads are all issued before its stores, which the compiler
// may not reorder itself (out might alias the table).
#define GATHER_UNROLL 4

// out[t] = table[ids[t]] for each token t (one block per token); table F32, out F32 or BF16. Rows whose length is a
// multiple of 4 (aligned) move four elements per load and store: one per load ran at 0.7 TB/s on an H100. With one
// 16-byte load before each store, ModelOpsBenchmark's gather (16384 tokens of 4096, F32 to BF16) took 0.229-0.361 ms
// on two H100s, and 0.206 ms with four loads in flight (1.95 TB/s of table and output) where the other took 0.361;
// in the Llama step it took 0.159-0.170 ms either way.
extern "C" __global__ void embedding_gather(const float* table, const int* ids, void* out, int outType, int dim) {
    long t = blockIdx.x;
    long row = (long) ids[t] * dim;
    if (dim % 4 == 0 && aligned16(table, out)) {
        const int vectors = dim / 4;
        for (int q0 = threadIdx.x; q0 < vectors; q0 += GATHER_UNROLL * blockDim.x) {
            float v[GATHER_UNROLL][4];
#pragma unroll
            for (int u = 0; u < GATHER_UNROLL; u++) {
                int q = q0 + u * blockDim.x;
                if (q < vectors) load4(table, row / 4 + q, DT_F32, v[u]);
            }
#pragma unroll
            for (int u = 0; u < GATHER_UNROLL; u++) {
                int q = q0 + u * blockDim.x;
                if (q < vectors) store4(out, t * vectors + q, outType, v[u]);
            }
        }
        return;
    }
    for (int c = threadIdx.x; c < dim; c += blockDim.x) {
        store_elem(out, t * dim + c, outType, table[row + c]);
    }
}

// gradTable[id] += sum of dOut[t] over the tokens t holding id, gradTable in tableType (F32, or BF16 where the
// parameter keeps a BF16 gradient: the sum is made in F32 and rounded once). Block s handles distinct id number s:
// tokens order[start[s]] .. order[start[s + 1] - 1]. Each column's sum runs over the tokens in that order, whether
// the block moves four columns per load (rows of a multiple of 4, aligned) or one. One column per load took 0.347 ms
// at the benchmark's shape on an H100 and 0.38 ms in the Llama step; four, 0.195 and 0.198 ms.
extern "C" __global__ void embedding_scatter(void* gradTable, int tableType, const int* ids, const int* order,
                                             const int* start, const void* dOut, int dType, int dim) {
    int s = blockIdx.x;
    int first = start[s], end = start[s + 1];
    long id = ids[order[first]];
    if (dim % 4 == 0 && aligned16(gradTable, dOut)) {
        const int vectors = dim / 4;
        for (int q = threadIdx.x; q < vectors; q += blockDim.x) {
            float sum[4] = {}, g[4];
            for (int j = first; j < end; j++) {
                float v[4];
                load4(dOut, (long) order[j] * vectors + q, dType, v);
                for (int e = 0; e < 4; e++) sum[e] += v[e];
            }
            load4(gradTable, id * vectors + q, tableType, g);
            for (int e = 0; e < 4; e++) g[e] += sum[e];
            store4(gradTable, id * vectors + q, tableType, g);
        }
        return;
    }
    for (int c = threadIdx.x; c < dim; c += blockDim.x) {
        float sum = 0.0f;
        for (int j = first; j < end; j++) {
            sum += load_elem(dOut, (long) order[j] * dim + c, dType);
        }
        store_elem(gradTable, id * dim + c, tableType, load_elem(gradTable, id * dim + c, tableType) + sum);
    }
}
