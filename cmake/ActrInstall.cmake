# `cmake --install`: headers, the libraries (static unless BUILD_SHARED_LIBS), the generated protobuf headers, the `actr`
# binary, the CMake package `actr_transport` (target actr::transport) and actr_transport.pc, under
# CMAKE_INSTALL_PREFIX in the GNUInstallDirs layout. tests/install/ builds examples/ against it.
include(CMakePackageConfigHelpers)

set(ACTR_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/actr_transport)

# Exported as actr::base, actr::proto, actr::transport (the one a program links).
set_target_properties(actr_base PROPERTIES EXPORT_NAME base)
set_target_properties(actr_proto PROPERTIES EXPORT_NAME proto)
set_target_properties(actr_transport PROPERTIES EXPORT_NAME transport)

# A sanitized build installs instrumented libraries: whatever links them needs the sanitizer
# runtime, and the same flags keep its own code's view of the objects consistent. That is a
# property of the installed artifact, not of one consumer, so the package carries it (installed
# interface only: inside this tree the global options of ActrSanitizers.cmake apply).
if(ACTR_SANITIZE)
  target_compile_options(actr_base INTERFACE "$<INSTALL_INTERFACE:${ACTR_SANITIZE_COMPILE_FLAGS}>")
  target_link_options(actr_base INTERFACE "$<INSTALL_INTERFACE:${ACTR_SANITIZE_LINK_FLAGS}>")
endif()

# Shared libraries are found beside each other and from bin/ without LD_LIBRARY_PATH.
if(BUILD_SHARED_LIBS)
  set_target_properties(actr PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
  set_target_properties(actr_base actr_transport PROPERTIES INSTALL_RPATH "$ORIGIN")
endif()

install(TARGETS actr_proto actr_base actr_transport EXPORT actr_transportTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/actr/proto
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS actr RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/actr DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")

install(EXPORT actr_transportTargets NAMESPACE actr:: DESTINATION ${ACTR_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/actr_transportConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/actr_transportConfig.cmake INSTALL_DESTINATION ${ACTR_CMAKE_DIR})
# 0.x: a minor version may break the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/actr_transportConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/actr_transportConfig.cmake ${PROJECT_BINARY_DIR}/actr_transportConfigVersion.cmake
        DESTINATION ${ACTR_CMAKE_DIR})

# pkg-config: the libraries may be static, so Libs names them all and Requires every package they use.
# The prefix is found from the .pc file's own place, so `cmake --install --prefix DIR` works.
file(RELATIVE_PATH ACTR_PC_PREFIX_REL "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
string(REGEX REPLACE "/$" "" ACTR_PC_PREFIX_REL "${ACTR_PC_PREFIX_REL}")
list(JOIN ACTR_SANITIZE_COMPILE_FLAGS " " ACTR_PC_SANITIZE_CFLAGS)
list(JOIN ACTR_SANITIZE_LINK_FLAGS " " ACTR_PC_SANITIZE_LIBS)
configure_file(${CMAKE_CURRENT_LIST_DIR}/actr_transport.pc.in ${PROJECT_BINARY_DIR}/actr_transport.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/actr_transport.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
