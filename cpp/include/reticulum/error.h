// Typed errors; the bindings map each to the Python exception of the same name.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace rt {

struct ValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct IndexError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

// Builds a message from any streamable pieces: fail<ValueError>("add: ", a, " vs ", b).
template <class E, class... A>
[[noreturn]] void fail(const A&... parts) {
  std::ostringstream o;
  (o << ... << parts);
  throw E(o.str());
}

}  // namespace rt
