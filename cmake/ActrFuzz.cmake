# ACTR_BUILD_FUZZ: libFuzzer targets under fuzz/. Needs clang. Every first-party target of this
# build gets coverage instrumentation plus ASan+UBSan; fuzz/CMakeLists.txt links libFuzzer's main.
if(ACTR_BUILD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "ACTR_BUILD_FUZZ needs clang (e.g. -DCMAKE_CXX_COMPILER=clang++)")
  endif()
  if(ACTR_SANITIZE)
    message(FATAL_ERROR "ACTR_BUILD_FUZZ sets its own sanitizers; leave ACTR_SANITIZE empty")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  message(STATUS "actr: libFuzzer build (fuzz/)")
endif()
