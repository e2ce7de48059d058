# Writes a help2man include with a COMMANDS section: `memopt CMD --help` for every command that
# `memopt --help` lists, so the man page documents each command's options as the binary has them.
# Usage: cmake -DMEMOPT=path/to/memopt -DOUTPUT=commands.h2m -P man/commands.cmake
execute_process(COMMAND ${MEMOPT} --help OUTPUT_VARIABLE top RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${MEMOPT} --help failed (${rc})")
endif()
# CLI11 lists the commands under "SUBCOMMANDS:" (or "Subcommands:"), one per line:
# "  name   description", up to an empty line.
string(REGEX MATCH "(SUBCOMMANDS|Subcommands):\n(.*)" listing "${top}")
string(FIND "${CMAKE_MATCH_2}" "\n\n" end)
string(SUBSTRING "${CMAKE_MATCH_2}" 0 ${end} listing)
string(REGEX MATCHALL "\n  [a-z][a-z-]*" names "\n${listing}")
set(page "[COMMANDS]\n")
foreach(name IN LISTS names)
  string(STRIP "${name}" name)
  execute_process(COMMAND ${MEMOPT} ${name} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${MEMOPT} ${name} --help failed (${rc})")
  endif()
  # roff: a backslash is \e, a line starting with . or ' would be a request.
  string(REPLACE "\\" "\\e" help "${help}")
  string(REGEX REPLACE "\n([.'])" "\n\\\\&\\1" help "\n${help}")
  string(APPEND page ".SS \"memopt ${name}\"\n.nf${help}.fi\n")
endforeach()
if(page STREQUAL "[COMMANDS]\n")
  message(FATAL_ERROR "no command found in `${MEMOPT} --help`")
endif()
file(WRITE ${OUTPUT} "${page}")
