// The client side of the cooperative socket protocol against real servers on Unix sockets in
// a temporary directory, run in threads of this process (so SO_PEERCRED names this pid): one
// deadline for the whole exchange, a cap on an answer's bytes, many servers in one loop.
#include "memopt/actions/socket_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "memopt/actions/cleanup.hpp"
#include "memopt/actions/leaks.hpp"
#include "memopt/actions/process_stats.hpp"
#include "memopt/protocol/leaks.hpp"
#include "memopt/sys/socket.hpp"
#include "support/tree.hpp"

namespace memopt::actions {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A server on `path` that accepts one connection, reads the request and then runs `behave` on
// the connection; it ends when `behave` returns.
class Server {
 public:
  template <typename F>
  Server(std::string path, F behave)
      : path_(std::move(path)), listener_(sys::Socket::listen(path_, 0600)) {
    thread_ = std::thread([this, behave] {
      auto connection = listener_.accept(std::chrono::seconds(10), -1);
      if (!connection) return;
      request_ = connection->receive_line(std::chrono::seconds(10), 1024).value_or("<none>");
      behave(*connection);
    });
  }
  ~Server() {
    if (thread_.joinable()) thread_.join();
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const std::string& path() const { return path_; }
  /// What the client sent (read it only after the client is done and the server ended).
  const std::string& request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  std::string path_;
  sys::Socket listener_;
  std::string request_;
  std::thread thread_;
};

// Sends `chunk` until the client hangs up (or `limit` chunks went out).
void send_until_closed(const sys::Socket& connection, const std::string& chunk,
                       std::chrono::milliseconds pause, std::size_t limit = SIZE_MAX) {
  for (std::size_t i = 0; i < limit; ++i) {
    if (::send(connection.fd(), chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) return;
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
}

SocketQuestion question_for(const std::string& path, const std::string& request = "stats") {
  return {static_cast<int>(::getpid()), path, ::geteuid(), request};
}

TEST(SocketClient, AnAnswerStreamedForeverIsRefusedAtTheCapNamingTheSocket) {
  testing::TempTree tree;
  Server server(tree.path("1.sock"), [](const sys::Socket& c) {
    send_until_closed(c, std::string(65536, '['), std::chrono::milliseconds(0));
  });
  const auto replies = ask_sockets({question_for(server.path())}, std::chrono::seconds(20));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_FALSE(replies[0].answer);
  EXPECT_THAT(replies[0].failure, HasSubstr(server.path()));
  EXPECT_THAT(replies[0].failure, HasSubstr("longer than 1048576 bytes"));
  EXPECT_EQ(server.request(), "stats");
}

TEST(SocketClient, ATrickleThatNeverEndsStopsAtTheDeadline) {
  testing::TempTree tree;
  Server server(tree.path("1.sock"), [](const sys::Socket& c) {
    send_until_closed(c, "[", std::chrono::milliseconds(5));
  });
  const auto replies = ask_sockets({question_for(server.path())}, std::chrono::milliseconds(300));
  EXPECT_FALSE(replies[0].answer);
  EXPECT_THAT(replies[0].failure, HasSubstr("no answer within 300 ms on " + server.path()));
  EXPECT_THAT(replies[0].failure, HasSubstr("bytes without an end of line"));
}

TEST(SocketClient, ManyServersAreAskedTogetherAndAnsweredInOrder) {
  testing::TempTree tree;
  std::vector<std::unique_ptr<Server>> servers;
  std::vector<SocketQuestion> questions;
  for (int i = 0; i < 30; ++i) {
    const std::string answer = "{\"n\":" + std::to_string(i) + "}\n";
    // Half answer in two pieces: the line is put together across reads.
    servers.push_back(std::make_unique<Server>(
        tree.path(std::to_string(i) + ".sock"), [answer, i](const sys::Socket& c) {
          if (i % 2 == 0) {
            (void)c.send_all(answer);
          } else {
            (void)c.send_all(answer.substr(0, 3));
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            (void)c.send_all(answer.substr(3));
          }
        }));
    questions.push_back(question_for(servers.back()->path()));
  }
  const auto replies = ask_sockets(questions, std::chrono::seconds(20));
  ASSERT_EQ(replies.size(), 30u);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(replies[i].answer.value_or(replies[i].failure), "{\"n\":" + std::to_string(i) + "}");
  }
}

TEST(SocketClient, AServerThatIsNotThePidOfItsSocketIsNeverSentTheRequest) {
  testing::TempTree tree;
  Server server(tree.path("1.sock"), [](const sys::Socket& c) { (void)c.send_all("{}\n"); });
  auto question = question_for(server.path());
  question.pid += 1;
  const auto replies = ask_sockets({question}, std::chrono::seconds(5));
  EXPECT_FALSE(replies[0].answer);
  EXPECT_THAT(replies[0].failure, HasSubstr("refused: the server on " + server.path()));
  EXPECT_EQ(server.request(), "<none>");
}

TEST(SocketClient, NobodyListeningIsAStaleSocket) {
  testing::TempTree tree;
  const auto path = tree.path("1.sock");
  { auto gone = sys::Socket::listen(path, 0600); }  // the file stays, nobody listens
  const auto replies = ask_sockets({question_for(path)}, std::chrono::seconds(5));
  EXPECT_TRUE(replies[0].stale);
  EXPECT_THAT(replies[0].failure, HasSubstr("nobody listens on " + path));
}

TEST(LineCollector, FindsTheLineAcrossPiecesAndDropsEverythingPastTheCap) {
  sys::LineCollector line(8);
  EXPECT_EQ(line.add("abc"), sys::LineCollector::State::kCollecting);
  EXPECT_EQ(line.add("def\nrest"), sys::LineCollector::State::kComplete);
  EXPECT_EQ(line.line(), "abcdef");
  EXPECT_EQ(line.received_bytes(), 11u);

  sys::LineCollector long_line(8);
  EXPECT_EQ(long_line.add("12345"), sys::LineCollector::State::kCollecting);
  EXPECT_EQ(long_line.add("6789"), sys::LineCollector::State::kTooLong);
  EXPECT_TRUE(long_line.line().empty());
  EXPECT_EQ(long_line.add("\n"), sys::LineCollector::State::kTooLong);

  sys::LineCollector exact(3);
  EXPECT_EQ(exact.add("abc\n"), sys::LineCollector::State::kComplete);
  EXPECT_EQ(exact.line(), "abc");
}

// What a server says reaches people escaped: ESC sequences, CR/LF that would forge a line,
// C1 controls and the bidi overrides that reorder what follows them.
TEST(AnswerParsing, StringsFromAServerArePrintable) {
  const std::string hostile = R"({"error":"\u001b[2J\r\nMEMOPT OK)"
                              "\xe2\x80\xae"
                              "gnp.exe"
                              "\xe2\x81\xa6"
                              R"(x\u009b"})";
  CooperatingProcess process;
  apply_cleanup_answer(hostile, "cleanup", process);
  EXPECT_EQ(process.status, "failed");
  EXPECT_EQ(process.reason,
            "\\x1b[2J\\x0d\\x0aMEMOPT OK\\xe2\\x80\\xaegnp.exe\\xe2\\x81\\xa6x\\xc2\\x9b");

  model::ProcessStats stats;
  apply_stats_answer(hostile, stats);
  EXPECT_THAT(stats.error.value_or(""), Not(HasSubstr("\x1b")));
  EXPECT_THAT(stats.error.value_or(""), HasSubstr("\\xe2\\x80\\xae"));

  const auto leaks = parse_leak_sites(
      R"({"checkpoints":5,"sites":[{"file":"a\u202eb.py","kind":"\u001b]0;x","line":1,)"
      R"("size_bytes":1,"count":1,"growth_bytes_per_hour":1,"r2":1}]})",
      5);
  ASSERT_EQ(leaks.sites.size(), 1u);
  EXPECT_EQ(leaks.sites[0].file, "a\\xe2\\x80\\xaeb.py");
  EXPECT_EQ(leaks.sites[0].kind, "\\x1b]0;x");
  // Not JSON: the piece quoted in the note is escaped too.
  EXPECT_THAT(parse_leak_sites("\x1b[31mTraceback", 5).note.value_or(""),
              HasSubstr("\\x1b[31mTraceback"));
}

TEST(AnswerParsing, NestingDeeperThanAnyAnswerIsRefusedUnparsed) {
  CooperatingProcess deep;
  apply_cleanup_answer(std::string(100000, '[') + std::string(100000, ']'), "cleanup", deep);
  EXPECT_EQ(deep.status, "failed");
  EXPECT_EQ(deep.reason, "the answer nests deeper than 64 levels");
  // Brackets inside strings are text, not nesting.
  CooperatingProcess text;
  apply_cleanup_answer(R"({"released_bytes":1,"note":")" + std::string(1000, '[') + R"("})",
                       "cleanup", text);
  EXPECT_EQ(text.status, "done") << text.reason;
}

TEST(AnswerParsing, FiguresThatDoNotFitAreNoFigures) {
  const auto leaks =
      parse_leak_sites(R"({"checkpoints":5,"sites":[{"file":"a.py","line":1e300,"size_bytes":-5,)"
                       R"("count":2.0,"growth_bytes_per_hour":5}]})",
                       5);
  // Not named with made-up zeros: left out, and the note says why.
  EXPECT_TRUE(leaks.sites.empty());
  EXPECT_THAT(leaks.note.value_or(""), HasSubstr("1 site(s) without a whole file, line"));
  const auto decoded = protocol::decode_leaks_answer(
      R"({"sites":[{"file":"a.py","line":1e300,"size_bytes":-5,"count":2.0}]})");
  EXPECT_FALSE(decoded.sites.at(0).line);
  EXPECT_FALSE(decoded.sites.at(0).size_bytes);
  EXPECT_EQ(decoded.sites.at(0).count, 2u);
}

}  // namespace
}  // namespace memopt::actions
