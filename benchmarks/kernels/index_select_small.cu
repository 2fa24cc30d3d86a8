// The loops of PyTorch's indexSelectSmallIndex as index_select_out_cuda_impl instantiates it for at most 16 indices
// into a contiguous 2-D table (pytorch/pytorch aten/src/ATen/native/cuda/Indexing.cu: DstDim = SrcDim = 2,
// IdxDim = -2, unsigned 32-bit index math): every thread walks the indices one after the other, loading each
// index (with CUDA_KERNEL_ASSERT's bounds check, a call kept in release builds) and then its share of the row.
// Written here only to count the instructions of one index's pass with one element per thread (count_sass.py);
// accelsim never runs it.
#include <cassert>
#include <cstdint>
#include <cuda_bf16.h>

struct Info {
  void* data;
  unsigned sizes[25];
  unsigned strides[25];
  int dims;
};

__device__ __forceinline__ unsigned offset_2d(unsigned id, const unsigned* sizes, const unsigned* strides) {
  unsigned offset = 0;
  for (int i = 1; i >= 0; --i) {
    offset += (id % sizes[i]) * strides[i];
    if (i > 0) id /= sizes[i];
  }
  return offset;
}

__global__ void gather_rows_small(Info out, Info table, Info ids, int out_dim, int table_dim, unsigned row,
                                  int64_t table_rows) {
  for (unsigned r = 0; r < ids.sizes[0]; ++r) {
    unsigned table_row = (unsigned)((const int64_t*)ids.data)[r];
    assert(table_row < table_rows);
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < row; i += gridDim.x * blockDim.x) {
      unsigned dst = offset_2d(i, out.sizes, out.strides) + r * out.strides[out_dim];
      unsigned src = offset_2d(i, table.sizes, table.strides) + table_row * table.strides[table_dim];
      ((__nv_bfloat16*)out.data)[dst] = ((const __nv_bfloat16*)table.data)[src];
    }
  }
}
