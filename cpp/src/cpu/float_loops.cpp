// The portable (DEFAULT level) build of the float loops, and the choice of the active level's table.
#include "cpu/float_loops.h"

#include <cmath>

#include "cpu/simd.h"

namespace rt::cpu {

namespace baseline {
#include "cpu/float_loops.inc"
const FloatLoops float_loops = loops_of<float>();
const VecLoops<double> double_loops = loops_of<double>();
}  // namespace baseline

const FloatLoops& float_loops() {
  const SimdKernels* k = simd();
  return k ? *k->loops : baseline::float_loops;
}

}  // namespace rt::cpu
