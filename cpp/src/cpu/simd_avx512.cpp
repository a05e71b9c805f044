// The AVX-512 level's dispatch table.
#include "cpu/simd_avx512.h"

#include <cmath>

#include "cpu/float_loops.h"

namespace rt::cpu::avx512 {

#include "cpu/float_loops.inc"
const FloatLoops float_loops = loops_of<float>();

// Two row tiles at least: the threshold this kernel was tuned with.
const SimdKernels kernels = {CpuCapability::Avx512,
                             MR,
                             NR,
                             2 * MR,
                             sgemm_packed,
                             strided_a,
                             strided_b,
                             patch_columns,
                             patch_rows,
                             patch_rows_a,
                             conv_narrow_forward,
                             conv_narrow_weight_grad,
                             transpose_channels16,
                             max_pool_2x2_row,
                             &float_loops};

}  // namespace rt::cpu::avx512
