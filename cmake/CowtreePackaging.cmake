# cowtree::cowtree (what a consumer links), install rules, the CMake package and cowtree.pc.
# Included at the end of CMakeLists.txt, after every library target is defined.
#
# - cowtree::cowtree: links cowtree_api (the public API, include/cowtree/*.h) when that target
#   exists, else cowtree_recovery (which brings tree and persistence). Same name in-tree,
#   via add_subdirectory() and via find_package(cowtree CONFIG).
# - cmake --install <build> --prefix P installs
#     P/lib/libcowtree_*.a                       static libraries
#     P/include/cowtree/*.h                      public headers (when include/cowtree exists)
#     P/include/cowtree/internal/<layer>/*.h     the layer headers, included as "persistence/x.h"
#     P/bin/cowtree                              the CLI
#     P/lib/cmake/cowtree/cowtree{Config,ConfigVersion,Targets*}.cmake
#     P/lib/pkgconfig/cowtree.pc
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_cowtree_layers cowtree_persistence cowtree_tree cowtree_recovery cowtree_tools)
set(_cowtree_exported ${_cowtree_layers})

if(TARGET cowtree_api)
  # The public headers live in include/; make sure both the build tree (whatever the including
  # project is) and the install tree see them.
  target_include_directories(cowtree_api PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_features(cowtree_api PUBLIC cxx_std_20)
  list(PREPEND _cowtree_exported cowtree_api)
endif()

# The consumer-facing target. The executable already owns the name "cowtree", hence
# cowtree_cowtree with EXPORT_NAME cowtree (cowtree::cowtree once exported) plus an alias.
add_library(cowtree_cowtree INTERFACE)
set_target_properties(cowtree_cowtree PROPERTIES EXPORT_NAME cowtree)
if(TARGET cowtree_api)
  target_link_libraries(cowtree_cowtree INTERFACE cowtree_api)
else()
  target_link_libraries(cowtree_cowtree INTERFACE cowtree_recovery cowtree_tree cowtree_persistence)
endif()
target_compile_features(cowtree_cowtree INTERFACE cxx_std_20)
add_library(cowtree::cowtree ALIAS cowtree_cowtree)
foreach(t ${_cowtree_exported})
  string(REGEX REPLACE "^cowtree_" "" _short ${t})
  add_library(cowtree::${_short} ALIAS ${t})  # cowtree::persistence, ... as once installed
  set_target_properties(${t} PROPERTIES EXPORT_NAME ${_short})
endforeach()

if(NOT COWTREE_INSTALL)
  return()
endif()

set(_cowtree_cmakedir ${CMAKE_INSTALL_LIBDIR}/cmake/cowtree)

install(TARGETS ${_cowtree_exported} cowtree_cowtree
        EXPORT cowtreeTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS cowtree RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/include/cowtree)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/cowtree
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
endif()
foreach(layer persistence tree recovery tools)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${layer}
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cowtree/internal FILES_MATCHING PATTERN "*.h")
endforeach()

install(EXPORT cowtreeTargets NAMESPACE cowtree:: DESTINATION ${_cowtree_cmakedir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/cowtreeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cowtreeConfig.cmake INSTALL_DESTINATION ${_cowtree_cmakedir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cowtreeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)  # 0.x: a minor version may change the API
install(FILES ${PROJECT_BINARY_DIR}/cowtreeConfig.cmake
              ${PROJECT_BINARY_DIR}/cowtreeConfigVersion.cmake
        DESTINATION ${_cowtree_cmakedir})

# cowtree.pc: static libraries in dependency order, then the system libraries.
# Relocatable: prefix is found from the .pc file's own location (cmake --install --prefix P).
file(RELATIVE_PATH _cowtree_pc_up /x/${CMAKE_INSTALL_LIBDIR}/pkgconfig /x)  # ../..
string(REGEX REPLACE "/$" "" _cowtree_pc_up "${_cowtree_pc_up}")
set(_cowtree_pc_libs "")
foreach(t cowtree_api cowtree_tools cowtree_recovery cowtree_tree cowtree_persistence)
  if(TARGET ${t})
    string(APPEND _cowtree_pc_libs " -l${t}")
  endif()
endforeach()
set(_cowtree_pc_system "")
if(COWTREE_IO_URING)
  string(APPEND _cowtree_pc_system " -luring")
endif()
string(APPEND _cowtree_pc_system " -lisal -lzstd -lpthread")
set(_cowtree_pc_cflags "-I\${includedir} -I\${includedir}/cowtree/internal -std=c++20")
file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/cowtree.pc CONTENT
"prefix=\${pcfiledir}/${_cowtree_pc_up}
exec_prefix=\${prefix}
libdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}
includedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}

Name: cowtree
Description: Embedded copy-on-write multi-version storage library (C++20)
Version: ${PROJECT_VERSION}
Libs: -L\${libdir}${_cowtree_pc_libs}${_cowtree_pc_system}
Cflags: ${_cowtree_pc_cflags}
")
install(FILES ${PROJECT_BINARY_DIR}/cowtree.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
