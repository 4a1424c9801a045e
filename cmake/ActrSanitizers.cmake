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
  message(STATUS "actr: sanitizers ${_san_flags}")
endif()
