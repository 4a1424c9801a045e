# Applies ACTR_SANITIZE ("address;undefined" or "thread") to every target in the project.
if(ACTR_SANITIZE)
  set(_san_flags "")
  foreach(s IN LISTS ACTR_SANITIZE)
    list(APPEND _san_flags "-fsanitize=${s}")
  endforeach()
  if("undefined" IN_LIST ACTR_SANITIZE)
    list(APPEND _san_flags -fno-sanitize-recover=undefined)
  endif()
  add_compile_options(${_san_flags} -fno-omit-frame-pointer)
  if("thread" IN_LIST ACTR_SANITIZE)
    # GCC 12 warns that TSan does not model Asio's atomic_thread_fence (std_fenced_block); the
    # fences sit beside mutex/atomic synchronisation that TSan does see.
    add_compile_options(-Wno-tsan)
  endif()
  add_link_options(${_san_flags})
  message(STATUS "actr: sanitizers ${_san_flags}")
endif()
