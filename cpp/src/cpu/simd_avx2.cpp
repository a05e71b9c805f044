// The AVX2+FMA level's dispatch table.
#include "cpu/simd_avx2.h"

#include <cmath>

#include "cpu/float_loops.h"

namespace rt::cpu::avx2 {

#include "cpu/float_loops.inc"
const FloatLoops float_loops = loops_of<float>();

// One full 6-row tile already beats Eigen, which runs at the baseline ISA: 2.0-2.6x at M = 6-11
// (6x256x256, 10x256x128, 6x784x25, 11x512x512; one thread).
const SimdKernels kernels = {CpuCapability::Avx2,
                             MR,
                             NR,
                             MR,
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

}  // namespace rt::cpu::avx2
