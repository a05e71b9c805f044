// Element types and the one switch that turns a runtime dtype into a C++ type.
#pragma once
#include <cstdint>
#include <string>

namespace rt {

enum class DType : int8_t { Float32 = 0, Float64 = 1, Int64 = 2, Bool = 3 };

inline size_t itemsize(DType d) {
  switch (d) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}

inline bool is_floating(DType d) { return d == DType::Float32 || d == DType::Float64; }

// Type promotion as in PyTorch for tensor-tensor ops: bool < int64 < float32 < float64.
inline int promotion_rank(DType d) {
  switch (d) {
    case DType::Bool: return 0;
    case DType::Int64: return 1;
    case DType::Float32: return 2;
    case DType::Float64: return 3;
  }
  return 0;
}
inline DType promote(DType a, DType b) { return promotion_rank(a) >= promotion_rank(b) ? a : b; }

template <class F>
decltype(auto) dispatch_all(DType d, F&& f) {
  switch (d) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    case DType::Int64: return f(int64_t{});
    case DType::Bool: return f(bool{});
  }
  return f(float{});
}

// Numeric types only (bool is promoted to int64 before arithmetic).
template <class F>
decltype(auto) dispatch_numeric(DType d, F&& f) {
  switch (d) {
    case DType::Float64: return f(double{});
    case DType::Int64: return f(int64_t{});
    default: return f(float{});
  }
}

template <class F>
decltype(auto) dispatch_float(DType d, F&& f) {
  if (d == DType::Float64) return f(double{});
  return f(float{});
}

}  // namespace rt
