#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "memopt/protocol/wire.hpp"

// The client side of the cooperative socket protocol (`cleanup`, `stats`, `leaks`, `shed`,
// `ping`; the server is memopt::serve_cleanup()): one request line out, one JSON line back,
// from any number of processes at once under one deadline and a cap on each answer's bytes.
// cleanup, report's in-process view and `report --leaks` all ask through here.
namespace memopt::actions {

/// The limits of one answer (protocol/wire.hpp), under the names the clients always used.
using protocol::kMaxAnswerBytes;
using protocol::kMaxAnswerDepth;

/// One process to ask.
struct SocketQuestion {
  int pid = 0;             ///< who the server must be (SO_PEERCRED)
  std::string socket;      ///< <runtime dir>/<pid>.sock
  uid_t expected_uid = 0;  ///< the uid the server must run as: the runtime directory's owner
  std::string request;     ///< protocol::request_name(): "cleanup", "stats", ...
};

/// What came back from one process.
struct SocketReply {
  std::optional<std::string> answer;  ///< the answer line, as sent (not yet parsed)
  /// Why there is no answer, naming the socket; empty when there is one.
  std::string failure;
  bool stale = false;  ///< nobody listens on the socket (its process no longer serves)
};

/// Asks every process at once (one poll() loop, no thread per process) and returns by
/// `timeout` after the call, however the servers behave: connect, send and receive share the
/// one deadline; an answer over kMaxAnswerBytes is refused; a server that is not the pid and
/// uid of its question is never sent the request. Replies are in the order of the questions.
[[nodiscard]] std::vector<SocketReply> ask_sockets(const std::vector<SocketQuestion>& questions,
                                                   std::chrono::milliseconds timeout);

}  // namespace memopt::actions
