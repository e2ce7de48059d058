# The hostile suite: what an attacker or a broken machine hands memopt (names that are not
# UTF-8, FIFOs and /dev/zero in --procfs/--sysfs trees, sizes that wrap, NaN in configs, other
# users on the cleanup socket). Each test failed before its fix; scripts/test.sh runs them all.
file(GLOB MEMOPT_HOSTILE_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*_test.cpp)
add_executable(memopt_hostile_tests ${MEMOPT_HOSTILE_TESTS}
  ${CMAKE_CURRENT_LIST_DIR}/../support/tree.cpp ${CMAKE_CURRENT_LIST_DIR}/../support/run.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../support/cgroup.cpp)
target_include_directories(memopt_hostile_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR}/.. ${CMAKE_CURRENT_BINARY_DIR})
target_link_libraries(memopt_hostile_tests PRIVATE memopt::core memopt_record nlohmann_json::nlohmann_json
  GTest::gmock_main)
add_dependencies(memopt_hostile_tests memopt memopt_test_holder)
gtest_discover_tests(memopt_hostile_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS hostile)
