# Runtime CPU dispatch (cpp/include/reticulum/cpu_capability.h): the hot float kernels are compiled once per ISA
# level, each level's sources into an object library with that level's target flags, and linked
# into reticulum_core beside the baseline code. Off x86-64 only the baseline level exists.

set(RT_CPU_LEVEL_FLAGS_avx2 -mavx2 -mfma -mno-avx512f)  # -mno-avx512f: honest AVX2 code even under RETICULUM_NATIVE
set(RT_CPU_LEVEL_FLAGS_avx512 -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma)
set(RT_CPU_LEVEL_SOURCES_avx2 cpp/src/cpu/sgemm_avx2.cpp cpp/src/cpu/conv_stencil_avx2.cpp cpp/src/cpu/pool_avx2.cpp
    cpp/src/cpu/simd_avx2.cpp)
set(RT_CPU_LEVEL_SOURCES_avx512 cpp/src/cpu/sgemm_avx512.cpp cpp/src/cpu/conv_stencil_avx512.cpp cpp/src/cpu/pool_avx512.cpp
    cpp/src/cpu/simd_avx512.cpp)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(RT_CPU_LEVELS avx2 avx512)
else()
  set(RT_CPU_LEVELS)
endif()

foreach(level IN LISTS RT_CPU_LEVELS)
  add_library(rt_cpu_${level} OBJECT ${RT_CPU_LEVEL_SOURCES_${level}})
  target_include_directories(rt_cpu_${level} PRIVATE cpp/include cpp/src)
  target_link_libraries(rt_cpu_${level} PRIVATE OpenMP::OpenMP_CXX)
  target_compile_options(rt_cpu_${level} PRIVATE -Wall -Wextra -Wno-maybe-uninitialized ${RT_OPT_FLAGS} ${RT_CPU_LEVEL_FLAGS_${level}})
  target_sources(reticulum_core PRIVATE $<TARGET_OBJECTS:rt_cpu_${level}>)
  # An inline or template function defined in these objects outside the level's namespace could
  # be the copy the linker keeps for baseline callers too (SIGILL on older CPUs): refuse to link.
  add_custom_command(TARGET reticulum_core PRE_LINK
    COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM} -DLEVEL=${level} "-DOBJECTS=$<JOIN:$<TARGET_OBJECTS:rt_cpu_${level}>,|>"
            -P ${CMAKE_CURRENT_SOURCE_DIR}/cmake/check_level_symbols.cmake
    VERBATIM)
endforeach()

string(TOUPPER "${CMAKE_BUILD_TYPE}" RT_BUILD_TYPE_UPPER)
string(JOIN " " RT_OPT_FLAGS_STR ${RT_OPT_FLAGS})
string(JOIN " " RT_AVX2_FLAGS_STR ${RT_CPU_LEVEL_FLAGS_avx2})
string(JOIN " " RT_AVX512_FLAGS_STR ${RT_CPU_LEVEL_FLAGS_avx512})
set_source_files_properties(cpp/src/cpu/capability.cpp PROPERTIES COMPILE_DEFINITIONS
  "RT_BUILD_COMPILER=\"${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}\";RT_BUILD_CXX_FLAGS=\"${CMAKE_CXX_FLAGS} ${CMAKE_CXX_FLAGS_${RT_BUILD_TYPE_UPPER}} ${RT_OPT_FLAGS_STR}\";RT_BUILD_NATIVE=\"${RETICULUM_NATIVE}\";RT_BUILD_AVX2_FLAGS=\"${RT_AVX2_FLAGS_STR}\";RT_BUILD_AVX512_FLAGS=\"${RT_AVX512_FLAGS_STR}\"")
