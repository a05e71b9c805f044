// Device names and the device registry: which kernel table serves each device type.
#include <array>
#include <atomic>
#include <cstddef>
#include <string>

#include "reticulum/backend.h"

namespace rt {

const char* device_type_name(DeviceType t) {
  switch (t) {
    case DeviceType::CPU: return "cpu";
    case DeviceType::CUDA: return "cuda";
    case DeviceType::TestDev: return "testdev";
  }
  return "unknown";
}

std::string device_str(const Device& d) {
  // CUDA has several devices, so its tensors say which; the CPU and the test device are one each.
  if (d.type == DeviceType::CUDA) return "cuda:" + std::to_string(d.index);
  return device_type_name(d.type);
}

Device parse_device(const std::string& s) {
  const size_t colon = s.find(':');
  const std::string type = s.substr(0, colon);
  for (DeviceType t : {DeviceType::CPU, DeviceType::CUDA, DeviceType::TestDev}) {
    if (type != device_type_name(t)) continue;
    if (colon == std::string::npos) return Device{t, 0};
    const std::string idx = s.substr(colon + 1);
    const bool digits = !idx.empty() && idx.size() < 6 && idx.find_first_not_of("0123456789") == std::string::npos;
    if (!digits) fail<ValueError>("device: invalid device index in '", s, "' (expected e.g. '", type, ":0')");
    const int index = std::stoi(idx);
    if (t != DeviceType::CUDA && index != 0) fail<ValueError>("device: '", s, "': there is only one ", type, " device (index 0)");
    return Device{t, index};
  }
  fail<ValueError>("device: expected 'cpu', 'cuda', 'cuda:<index>' or 'testdev', got '", s, "'");
}

// Backend's members are all function pointers, each named once in RT_BACKEND_ENTRIES: the list must
// cover the struct, or a new entry would escape the null check below.
#define RT_COUNT_ENTRY(name) +1
static_assert(sizeof(Backend) == (0 RT_BACKEND_ENTRIES(RT_COUNT_ENTRY)) * sizeof(void (*)()),
              "RT_BACKEND_ENTRIES must name every member of Backend");
#undef RT_COUNT_ENTRY

namespace {
// One slot per device type; a table is copied in at registration and never freed, so references
// handed out by backend() stay valid.
struct Slots {
  std::array<std::atomic<const Backend*>, kDeviceTypes> table{};
  Slots() { table[static_cast<int>(DeviceType::CPU)].store(&cpu_backend()); }
};
std::array<std::atomic<const Backend*>, kDeviceTypes>& slots() {
  static Slots s;
  return s.table;
}
}  // namespace

void register_backend(DeviceType type, const Backend& table) {
  std::string missing;
#define RT_CHECK_ENTRY(name) \
  if (!table.name) missing += missing.empty() ? #name : ", " #name;
  RT_BACKEND_ENTRIES(RT_CHECK_ENTRY)
#undef RT_CHECK_ENTRY
  if (!missing.empty()) fail<RuntimeError>("register_backend: the ", device_type_name(type), " table has no entry for ", missing);
  auto& slot = slots()[static_cast<int>(type)];
  if (slot.load()) fail<RuntimeError>("register_backend: a ", device_type_name(type), " backend is already registered");
  slot.store(new Backend(table));
}

bool backend_registered(DeviceType type) { return slots()[static_cast<int>(type)].load(std::memory_order_acquire) != nullptr; }

const Backend& backend(Device d) {
  adopt_num_threads();
  const Backend* b = slots()[static_cast<int>(d.type)].load(std::memory_order_acquire);
  if (b) return *b;
  if (d.type == DeviceType::CUDA)
    fail<RuntimeError>("device ", device_str(d),
                       ": reticulum was built without CUDA (rebuild with -C cmake.define.RETICULUM_CUDA=ON)");
  fail<RuntimeError>("device ", device_str(d),
                     " is not enabled in this process (it is test-only: reticulum._C._enable_test_device() ",
                     "or RETICULUM_TEST_DEVICE=1 enables it)");
}

}  // namespace rt
