# (-Wnull-dereference is left out: at -O2 it fires inside Asio's strand and shared_ptr code.)
# INTERFACE target carrying the project's warning flags; linked PRIVATE by every first-party target.
add_library(actr_warnings INTERFACE)
target_compile_options(actr_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 at -O2 reports Asio's coroutine frame operator delete as mismatched (a false positive
  # of its coroutine lowering); keep it visible but not fatal.
  target_compile_options(actr_warnings INTERFACE -Wno-error=mismatched-new-delete)
endif()
if(ACTR_WARNINGS_AS_ERRORS)
  target_compile_options(actr_warnings INTERFACE -Werror)
endif()
