# cmake -DNM=nm -DLEVEL=avx2 -DOBJECTS="a.o|b.o" -P check_level_symbols.cmake
# Fails when a per-level object defines a weak symbol (inline function, template instance) outside
# rt::cpu::<LEVEL>: the linker keeps one copy of each, possibly this level's, for every caller.
string(REPLACE "|" ";" objects "${OBJECTS}")
set(bad "")
foreach(obj IN LISTS objects)
  execute_process(COMMAND ${NM} -C --defined-only "${obj}" OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_level_symbols: ${NM} failed on ${obj}")
  endif()
  string(REPLACE ";" "," out "${out}")
  string(REPLACE "\n" ";" lines "${out}")
  foreach(line IN LISTS lines)
    # DW.ref.__gxx_personality_v0 is the exception-handling personality pointer: data, no code.
    if(line MATCHES "^[0-9a-fA-F]* *[WVu] (.*)$" AND NOT CMAKE_MATCH_1 MATCHES "^[^(]*rt::cpu::${LEVEL}::|^DW\\.ref\\.")
      string(APPEND bad "\n  ${obj}: ${CMAKE_MATCH_1}")
    endif()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "Weak symbols outside rt::cpu::${LEVEL} in the ${LEVEL} objects (keep inline and template code of that level in its namespace):${bad}")
endif()
