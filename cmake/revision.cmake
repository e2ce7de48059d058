# Writes OUT: a header defining MEMOPT_REVISION, the git commit of SOURCE_DIR ("-dirty" when the
# tree has uncommitted changes), or REVISION when given (a build from a tarball passes
# -DMEMOPT_REVISION), or "unknown" outside a checkout. The file is rewritten only when its text
# changes, so an unchanged commit recompiles nothing.
#   cmake -DSOURCE_DIR=... -DOUT=... [-DREVISION=...] [-DGIT=...] -P revision.cmake
set(revision "${REVISION}")
if(revision STREQUAL "" AND GIT AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
    OUTPUT_VARIABLE revision OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE failed)
  if(failed)
    set(revision "")
  else()
    execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" status --porcelain --untracked-files=no
      OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(NOT dirty STREQUAL "")
      string(APPEND revision "-dirty")
    endif()
  endif()
endif()
if(revision STREQUAL "")
  set(revision "unknown")
endif()
set(text "#pragma once\n#define MEMOPT_REVISION \"${revision}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
else()
  set(old "")
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
