# Integration tests against the real kernel: child cgroups, real processes, real OOM kills.
# They skip with a message where cgroups cannot be created (not root, no memory controller).
add_executable(memopt_test_holder ${CMAKE_CURRENT_SOURCE_DIR}/integration/holder.cpp)

file(GLOB MEMOPT_INTEGRATION_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/integration/*_test.cpp)
add_executable(memopt_integration_tests ${MEMOPT_INTEGRATION_TESTS}
  support/tree.cpp support/run.cpp support/cgroup.cpp)
target_include_directories(memopt_integration_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR})
target_link_libraries(memopt_integration_tests PRIVATE memopt::core memopt_record nlohmann_json::nlohmann_json
  GTest::gmock_main)
add_dependencies(memopt_integration_tests memopt memopt_test_holder)
gtest_discover_tests(memopt_integration_tests DISCOVERY_TIMEOUT 60
  PROPERTIES RUN_SERIAL TRUE LABELS integration)

# A process holding freed-but-retained glibc heap that serves cleanup requests (issue 6).
add_executable(memopt_test_retainer ${CMAKE_CURRENT_SOURCE_DIR}/integration/retainer.cpp)
target_link_libraries(memopt_test_retainer PRIVATE memopt::core)
add_dependencies(memopt_integration_tests memopt_test_retainer)
