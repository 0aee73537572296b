/*
 * A stand-in for libnccl.so.2 with NCCL's C signatures, for NcclBindingTest: a group of one whose collectives copy
 * host memory and record their arguments, so the test can check what the FFM downcalls passed. Not NCCL.
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

typedef struct { char internal[128]; } ncclUniqueId;
typedef void *ncclComm_t;
typedef void *cudaStream_t;

static long long last[8];
static int comm_storage[2];

static size_t type_size(int type) { return type == 1 ? 1 : type == 9 ? 2 : 4; }

static int record(long long a, long long b, long long c, long long d, long long e, long long f, long long g) {
    last[0] = a; last[1] = b; last[2] = c; last[3] = d; last[4] = e; last[5] = f; last[6] = g;
    return c == 0 ? 4 : 0; /* a count of 0 answers ncclInvalidArgument, to test the error path */
}

void fakeLastCall(long long *out) { memcpy(out, last, sizeof last); }

int ncclGetVersion(int *version) { *version = 22703; return 0; }

int ncclGetUniqueId(ncclUniqueId *id) {
    for (int i = 0; i < 128; i++) id->internal[i] = (char) i;
    return 0;
}

int ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
    for (int i = 0; i < 128; i++) if (id.internal[i] != (char) i) return 4;
    comm_storage[0] = nranks;
    comm_storage[1] = rank;
    *comm = comm_storage;
    return 0;
}

int ncclCommDestroy(ncclComm_t comm) { return comm == comm_storage ? 0 : 4; }

const char *ncclGetErrorString(int result) { return result == 4 ? "invalid argument (fake)" : "other (fake)"; }

int ncclAllGather(const void *send, void *recv, size_t count, int type, ncclComm_t comm, cudaStream_t stream) {
    if (count) memcpy(recv, send, count * type_size(type));
    return record((long long) send, (long long) recv, (long long) count, type, -1, (long long) comm, (long long) stream);
}

int ncclReduceScatter(const void *send, void *recv, size_t count, int type, int op, ncclComm_t comm, cudaStream_t stream) {
    if (count) memcpy(recv, send, count * type_size(type));
    return record((long long) send, (long long) recv, (long long) count, type, op, (long long) comm, (long long) stream);
}

int ncclAllReduce(const void *send, void *recv, size_t count, int type, int op, ncclComm_t comm, cudaStream_t stream) {
    if (count) memcpy(recv, send, count * type_size(type));
    return record((long long) send, (long long) recv, (long long) count, type, op, (long long) comm, (long long) stream);
}

int ncclBroadcast(const void *send, void *recv, size_t count, int type, int root, ncclComm_t comm, cudaStream_t stream) {
    if (count) memcpy(recv, send, count * type_size(type));
    return record((long long) send, (long long) recv, (long long) count, type, root, (long long) comm, (long long) stream);
}

static int group_depth;

int ncclGroupStart(void) { group_depth++; return 0; }

int ncclGroupEnd(void) { return group_depth-- > 0 ? 0 : 5; /* ncclInvalidUsage without a start */ }

int fakeGroupDepth(void) { return group_depth; }
