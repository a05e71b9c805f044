// The AVX-512 level's dispatch table.
#include "cpu/simd_avx512.h"

namespace rt::cpu::avx512 {

const SimdKernels kernels = {CpuCapability::Avx512, MR, NR, sgemm_packed, strided_a, strided_b, patch_columns, patch_rows, patch_rows_a,
                             conv_narrow_forward, conv_narrow_weight_grad, transpose_channels16, max_pool_2x2_row};

}  // namespace rt::cpu::avx512
