// Overflow-checked int64 arithmetic for geometry (sizes, strides, padding, dilation, kernel
// extents, indices): a wrapped result would pass the range checks that follow it and then
// index out of bounds, so every such sum and product goes through these.
#pragma once
#include <cstdint>

#include "reticulum/error.h"

namespace rt {

// a + b, or a ValueError naming the op and the quantity.
inline int64_t checked_add(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) fail<ValueError>(op, ": ", what, " overflows a 64-bit integer (", a, " + ", b, ")");
  return r;
}

// a * b, or a ValueError naming the op and the quantity.
inline int64_t checked_mul(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) fail<ValueError>(op, ": ", what, " overflows a 64-bit integer (", a, " * ", b, ")");
  return r;
}

}  // namespace rt
