# What a system install adds around the binary: the man page, shell completion, the deploy
# examples under share/memopt/, and the .deb made from it all by `cpack -G DEB`.
# Not for `pip install .` (scikit-build): a wheel carries the binary, the HTTP module and the
# Python package only.
if(SKBUILD)
  return()
endif()

# The man page, written by help2man from `memopt --help` and `memopt --version` of the binary
# just built, with every command's own --help (man/commands.cmake) and the hand-written sections
# (man/memopt.h2m: exit status, levels, environment, files), gzipped as Debian wants it (-n: no
# time stamp, so that it builds reproducibly).
find_program(HELP2MAN help2man)
if(MEMOPT_PACKAGE_DEB AND NOT HELP2MAN)
  message(FATAL_ERROR "MEMOPT_PACKAGE_DEB needs help2man for the man page (apt-get install help2man)")
endif()
if(HELP2MAN)
  set(memopt_man ${CMAKE_CURRENT_BINARY_DIR}/memopt.1.gz)
  add_custom_command(
    OUTPUT ${memopt_man}
    COMMAND ${CMAKE_COMMAND} -DMEMOPT=$<TARGET_FILE:memopt>
            -DOUTPUT=${CMAKE_CURRENT_BINARY_DIR}/memopt-commands.h2m
            -P ${CMAKE_CURRENT_SOURCE_DIR}/man/commands.cmake
    COMMAND ${HELP2MAN} --no-info --section=1
            "--name=the memory guard for AI-model inference containers"
            --include=${CMAKE_CURRENT_SOURCE_DIR}/man/memopt.h2m
            --include=${CMAKE_CURRENT_BINARY_DIR}/memopt-commands.h2m
            --output=${CMAKE_CURRENT_BINARY_DIR}/memopt.1 $<TARGET_FILE:memopt>
    COMMAND gzip -9nf ${CMAKE_CURRENT_BINARY_DIR}/memopt.1
    DEPENDS memopt ${CMAKE_CURRENT_SOURCE_DIR}/man/memopt.h2m
            ${CMAKE_CURRENT_SOURCE_DIR}/man/commands.cmake
    COMMENT "Writing the man page with help2man" VERBATIM)
  add_custom_target(memopt_man ALL DEPENDS ${memopt_man})
  install(FILES ${memopt_man} DESTINATION share/man/man1)
endif()

install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/completions/memopt.bash
  DESTINATION share/bash-completion/completions RENAME memopt)
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/completions/_memopt
  DESTINATION share/zsh/vendor-completions)
install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/deploy/ DESTINATION share/memopt/deploy)
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/CHANGELOG.md DESTINATION share/doc/memopt)

# cpack -G DEB in a build configured with -DMEMOPT_PACKAGE_DEB=ON gives
# memopt_<version>_amd64.deb; dpkg-shlibdeps works out Depends: from the ELF files.
set(CPACK_PACKAGE_NAME memopt)
set(CPACK_PACKAGE_VENDOR "memopt")
set(CPACK_PACKAGE_CONTACT "memopt maintainers <memopt@example.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "memory guard for AI-model inference containers")
set(CPACK_PACKAGE_DESCRIPTION
  "memopt tells the truth about memory inside a container (cgroup v1, v2 and hybrid): how much\n\
there is, who uses it, how close the OOM killer is. It reports, monitors (with a Prometheus\n\
endpoint), cleans up and sizes containers from measurement. Includes the Python module.")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# SQLite is loaded at run time by the flight recorder (dlopen), so dpkg-shlibdeps cannot see it;
# what it computes is appended to this.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libsqlite3-0 (>= 3.37)")
# The Python package is for Debian's python3 (the module is built for its 3.X); the CLI does
# not need Python, so an image installing with --no-install-recommends stays without it.
execute_process(COMMAND /usr/bin/python3 -c "import sys; print('%d.%d' % sys.version_info[:2])"
  OUTPUT_VARIABLE memopt_py_version OUTPUT_STRIP_TRAILING_WHITESPACE)
if(memopt_py_version MATCHES "^3\\.([0-9]+)$")
  math(EXPR memopt_py_next "${CMAKE_MATCH_1} + 1")
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3 (>= ${memopt_py_version}), python3 (<< 3.${memopt_py_next})")
endif()
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/memopt/memopt")
# postinst byte-compiles the Python package, prerm removes the bytecode (as dh_python3 does), so
# that nothing is left behind after a purge.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_CURRENT_SOURCE_DIR}/cmake/deb/postinst ${CMAKE_CURRENT_SOURCE_DIR}/cmake/deb/prerm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_GENERATOR DEB)
include(CPack)
