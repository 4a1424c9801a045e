# Applies ACTR_SANITIZE ("address;undefined" or "thread") to every target in the project.
if(ACTR_SANITIZE)
  set(_san_flags "")
  foreach(s IN LISTS ACTR_SANITIZE)
    list(APPEND _san_flags "-fsanitize=${s}")
  endforeach()
  if("undefined" IN_LIST ACTR_SANITIZE)
    list(APPEND _san_flags -fno-sanitize-recover=undefined)
  endif()
  # Kept in ACTR_SANITIZE_COMPILE_FLAGS / ACTR_SANITIZE_LINK_FLAGS for the installed package
  # (cmake/ActrInstall.cmake): a program linking the instrumented libraries needs the same.
  set(ACTR_SANITIZE_COMPILE_FLAGS ${_san_flags} -fno-omit-frame-pointer)
  if("thread" IN_LIST ACTR_SANITIZE)
    # GCC 12 warns that TSan does not model Asio's atomic_thread_fence (std_fenced_block); the
    # fences sit beside mutex/atomic synchronisation that TSan does see.
    list(APPEND ACTR_SANITIZE_COMPILE_FLAGS -Wno-tsan)
  endif()
  set(ACTR_SANITIZE_LINK_FLAGS ${_san_flags})
  add_compile_options(${ACTR_SANITIZE_COMPILE_FLAGS})
  add_link_options(${ACTR_SANITIZE_LINK_FLAGS})
  # Size on disk: an instrumented debug build is mostly sanitizer metadata (a static record per
  # check site, each with a pointer that a position-independent binary relocates) and debug
  # info. Without these a full ASan+UBSan build took 12 GB and once filled a CI machine's disk.
  # Packed relative relocations (DT_RELR, glibc >= 2.36) and compressed debug sections (read by
  # the sanitizers' symbolizer) change nothing a test sees.
  include(CheckLinkerFlag)
  check_linker_flag(CXX "-Wl,-z,pack-relative-relocs" ACTR_HAS_PACK_RELATIVE_RELOCS)
  if(ACTR_HAS_PACK_RELATIVE_RELOCS)
    add_link_options("-Wl,-z,pack-relative-relocs")
  endif()
  add_compile_options(-gz)
  add_link_options(-gz)
  message(STATUS "actr: sanitizers ${_san_flags}")
endif()
