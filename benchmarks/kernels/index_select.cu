// The loops of PyTorch's index_select kernels as index_select_out_cuda_impl instantiates them for
// torch.nn.functional.embedding on a contiguous 2-D table (pytorch/pytorch aten/src/ATen/native/cuda/Indexing.cu:
// DstDim = SrcDim = 2, IdxDim = -2 (contiguous int64 indices), unsigned 32-bit index math), written here only to count
// the instructions of their loops (count_sass.py); accelsim never runs them. What matters for the count, as in the
// original: the divisors (the tensors' sizes) are run-time values, IndexToOffset<2> takes the modulo and quotient of
// sizes[1] and the modulo of sizes[0] (1 after reduceDim, unknown to the compiler), and the bounds check is a call to
// __assert_fail that PyTorch keeps in release builds (c10/macros/Macros.h CUDA_KERNEL_ASSERT), which stops the
// compiler from hoisting the divisions' reciprocals out of the loop.
//   gather_rows: indexSelectLargeIndex (more than 16 indices, IndexIsMajor), one element per thread per iteration of
//     a grid-stride loop over the output.
//   gather_rows_small: indexSelectSmallIndex (at most 16 indices): every thread walks the indices one after the
//     other, loading each index and then its share of the row (counted with one element per thread).
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

__global__ void gather_rows(Info out, Info table, Info ids, int out_dim, int table_dim, unsigned total,
                            unsigned row, int64_t table_rows) {
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
    unsigned out_row = i / row;
    unsigned col = i % row;
    unsigned table_row = (unsigned)((const int64_t*)ids.data)[out_row];
    assert(table_row < table_rows);
    unsigned dst = offset_2d(col, out.sizes, out.strides) + out_row * out.strides[out_dim];
    unsigned src = offset_2d(col, table.sizes, table.strides) + table_row * table.strides[table_dim];
    ((__nv_bfloat16*)out.data)[dst] = ((const __nv_bfloat16*)table.data)[src];
  }
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
