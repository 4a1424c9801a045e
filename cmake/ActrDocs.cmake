# API reference from the public headers' comments: `cmake --build <dir> --target actr_docs` writes
# <dir>/docs/api/html/index.html. Doxygen (Debian's `doxygen`) is optional: without it the target
# is absent and nothing else changes.
find_package(Doxygen 1.9 QUIET)
if(NOT DOXYGEN_FOUND)
  message(STATUS "actr: doxygen not found; the actr_docs target (API reference) is not available")
  return()
endif()

set(DOXYGEN_PROJECT_NAME "actr-transport")
set(DOXYGEN_PROJECT_BRIEF "Messages between actors in different processes and on different machines")
set(DOXYGEN_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/docs/api")
set(DOXYGEN_USE_MDFILE_AS_MAINPAGE "${PROJECT_SOURCE_DIR}/README.md")
set(DOXYGEN_GENERATE_LATEX NO)
set(DOXYGEN_EXTRACT_ALL YES)           # every public declaration gets a page, commented or not
set(DOXYGEN_EXTRACT_PRIVATE NO)
set(DOXYGEN_HIDE_UNDOC_RELATIONS YES)
set(DOXYGEN_JAVADOC_AUTOBRIEF YES)     # the first sentence of a /// comment is its brief
set(DOXYGEN_STRIP_FROM_INC_PATH "${PROJECT_SOURCE_DIR}/include")
set(DOXYGEN_STRIP_FROM_PATH "${PROJECT_SOURCE_DIR}")
set(DOXYGEN_EXCLUDE_SYMBOLS "detail::*Impl*")
set(DOXYGEN_WARN_IF_UNDOCUMENTED NO)
set(DOXYGEN_WARN_LOGFILE "${CMAKE_BINARY_DIR}/docs/api/warnings.log")
set(DOXYGEN_QUIET YES)
set(DOXYGEN_HAVE_DOT NO)
doxygen_add_docs(actr_docs
  "${PROJECT_SOURCE_DIR}/include/actr"
  "${PROJECT_SOURCE_DIR}/README.md"
  "${PROJECT_SOURCE_DIR}/docs"
  COMMENT "API reference (Doxygen) -> ${CMAKE_BINARY_DIR}/docs/api/html/index.html")
set(ACTR_DOXYFILE "${CMAKE_CURRENT_BINARY_DIR}/Doxyfile.actr_docs")
