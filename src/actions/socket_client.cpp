#include "memopt/actions/socket_client.hpp"

#include <fmt/format.h>

#include <cerrno>

#include "memopt/sys/fs.hpp"
#include "memopt/sys/socket.hpp"

namespace memopt::actions {

namespace {

std::string failure_of(const sys::LineExchange& exchange, const SocketQuestion& question,
                       std::chrono::milliseconds timeout) {
  using Outcome = sys::LineExchange::Outcome;
  const auto& path = question.socket;
  switch (exchange.outcome) {
    case Outcome::kAnswered:
      return {};
    case Outcome::kConnectFailed:
      return exchange.err == ECONNREFUSED
                 ? fmt::format("nobody listens on {} (a stale socket)", path)
                 : fmt::format("cannot connect to {}: {}", path, sys::error_text(exchange.err));
    case Outcome::kConnectTimeout:
      return fmt::format("the server on {} did not take the connection within {} ms", path,
                         timeout.count());
    case Outcome::kWrongPeer:
      return exchange.peer
                 ? fmt::format(
                       "refused: the server on {} is pid {} (uid {}), not pid {} "
                       "(uid {})",
                       path, exchange.peer->pid, exchange.peer->uid, question.pid,
                       question.expected_uid)
                 : fmt::format("refused: the credentials of the server on {} are unknown", path);
    case Outcome::kSendFailed:
      return exchange.err == ETIMEDOUT
                 ? fmt::format("the server on {} did not read the request within {} ms", path,
                               timeout.count())
                 : fmt::format("cannot send the request to {}: {}", path,
                               sys::error_text(exchange.err));
    case Outcome::kNoAnswer:
      return fmt::format("no answer within {} ms on {} ({} bytes without an end of line)",
                         timeout.count(), path, exchange.received_bytes);
    case Outcome::kClosed:
      return exchange.err != 0 ? fmt::format("the server on {} failed before answering: {}", path,
                                             sys::error_text(exchange.err))
                               : fmt::format("the server on {} hung up before answering", path);
    case Outcome::kTooLong:
      return fmt::format("refused: the answer on {} is longer than {} bytes", path,
                         kMaxAnswerBytes);
  }
  return "unknown outcome";
}

}  // namespace

std::vector<SocketReply> ask_sockets(const std::vector<SocketQuestion>& questions,
                                     std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<sys::LineExchange> exchanges(questions.size());
  for (std::size_t i = 0; i < questions.size(); ++i) {
    exchanges[i].path = questions[i].socket;
    exchanges[i].request = questions[i].request;
    exchanges[i].expected_peer =
        sys::PeerCredentials{questions[i].pid, questions[i].expected_uid, 0};
  }
  sys::exchange_lines(exchanges, deadline, kMaxAnswerBytes);
  std::vector<SocketReply> replies(questions.size());
  for (std::size_t i = 0; i < questions.size(); ++i) {
    auto& exchange = exchanges[i];
    auto& reply = replies[i];
    if (exchange.outcome == sys::LineExchange::Outcome::kAnswered) {
      reply.answer = std::move(exchange.answer);
      continue;
    }
    reply.stale = exchange.outcome == sys::LineExchange::Outcome::kConnectFailed &&
                  exchange.err == ECONNREFUSED;
    reply.failure = failure_of(exchange, questions[i], timeout);
  }
  return replies;
}

}  // namespace memopt::actions
