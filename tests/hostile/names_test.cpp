// Process names and arguments that are not valid UTF-8 through every output. The kernel cuts
// `comm` at 15 bytes and may split a multi-byte character (`ab模型推理服务器` reads back as
// `ab模型推理` plus the byte 0xe6), and any user may set raw bytes ("\xff\xfe x"). Before the
// readers escaped them, `report --json` and `diagnose --json` aborted (nlohmann type_error.316),
// so did `run --json` after the command had run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "memopt/error.hpp"
#include "memopt/printable.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

// What the kernel keeps of `ab模型推理服务器` (23 bytes): 15 bytes, the last one the first byte of
// 服 (e6 9c 8d).
const std::string kCutName = std::string("ab模型推理服务器").substr(0, 15);
const std::string kRawName = "\xff\xfe x";
// How they print: valid UTF-8 kept, each byte of a broken sequence as \xNN.
const std::string kCutPrinted = "ab模型推理\\xe6";
const std::string kRawPrinted = "\\xff\\xfe x";

TEST(Printable, KeepsValidUtf8AndEscapesTheRest) {
  EXPECT_EQ(printable("python3"), "python3");
  EXPECT_EQ(printable("模型"), "模型");
  EXPECT_EQ(printable(kCutName), kCutPrinted);
  EXPECT_EQ(printable(kRawName), kRawPrinted);
  EXPECT_EQ(printable(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(printable("a\nb\tc\x1b[31m"), "a\\x0ab\\x09c\\x1b[31m");
  EXPECT_EQ(printable("a\nb\tc", /*keep_line_breaks=*/true), "a\nb\tc");
  EXPECT_EQ(printable("\xc2\x9b"), "\\xc2\\x9b");                    // C1 control CSI
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // UTF-16 surrogate
  EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(printable("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");      // an emoji stays
  for (const auto& s : {kCutName, kRawName}) {
    EXPECT_FALSE(is_printable(s));
    EXPECT_TRUE(is_printable(printable(s)));
    EXPECT_EQ(printable(printable(s)), printable(s)) << "escaping twice changes nothing";
  }
}

TEST(Printable, ErrorMessagesNeverCarryRawBytes) {
  const Error e("cannot read /x/\xff\xfe: bad\nsecond line");
  EXPECT_STREQ(e.what(), "cannot read /x/\\xff\\xfe: bad\nsecond line");
}

// A fixture tree whose two processes carry the hostile names.
void write_names(const testing::TempTree& tree) {
  tree.copy_fixture("v2-nested-parent-limit");
  tree.write("proc/1/comm", kCutName + "\n");
  tree.write("proc/7/comm", kRawName + "\n");
}

std::vector<std::string> tree_args(const testing::TempTree& tree) {
  return {"--procfs", tree.path("proc"), "--sysfs", tree.path("sys")};
}

std::vector<std::string> names_in(const nlohmann::json& processes) {
  std::vector<std::string> names;
  for (const auto& p : processes) names.push_back(p.at("name").get<std::string>());
  return names;
}

TEST(HostileNames, ReportJsonFromATree) {
  testing::TempTree tree;
  write_names(tree);
  auto args = tree_args(tree);
  args.insert(args.begin(), {"report", "--json"});
  const auto r = testing::run_memopt(args, {kNoNvml});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_THAT(names_in(doc.at("processes")),
              ::testing::UnorderedElementsAre(kCutPrinted, kRawPrinted));
}

TEST(HostileNames, ReportPrometheusAndTextFromATree) {
  testing::TempTree tree;
  write_names(tree);
  for (const std::vector<std::string>& format :
       {std::vector<std::string>{"--format", "prometheus"}, std::vector<std::string>{}}) {
    auto args = tree_args(tree);
    args.insert(args.begin(), "report");
    args.insert(args.end(), format.begin(), format.end());
    const auto r = testing::run_memopt(args, {kNoNvml});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(is_printable(r.out, /*keep_line_breaks=*/true)) << r.out;
    EXPECT_THAT(r.out, HasSubstr("ab模型推理"));
    EXPECT_THAT(r.out, HasSubstr("xff"));
    if (format.empty()) {
      EXPECT_THAT(r.out, HasSubstr(kCutPrinted));
      EXPECT_THAT(r.out, HasSubstr(kRawPrinted));
    } else {  // label values escape the backslash once more
      EXPECT_THAT(r.out, HasSubstr("name=\"ab模型推理\\\\xe6\""));
      EXPECT_THAT(r.out, HasSubstr("name=\"\\\\xff\\\\xfe x\""));
    }
  }
}

// Issue 31, item 9: a cgroup's name is any bytes its creator chose; the text and the Prometheus
// page printed them raw (a scrape must be UTF-8), and JSON turned each into U+FFFD.
TEST(HostileNames, ACgroupPathThatIsNotUtf8IsEscapedInEveryFormat) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  const std::string dir = "sys/fs/cgroup/kubepods/pod1/";
  std::filesystem::rename(tree.path(dir + "ctr"), tree.path(dir + "ctr\xff\xfe"));
  for (const char* pid : {"self", "1", "7"}) {
    tree.write(std::string("proc/") + pid + "/cgroup", "0::/kubepods/pod1/ctr\xff\xfe\n");
  }
  const std::string printed = "/kubepods/pod1/ctr\\xff\\xfe";
  for (const std::vector<std::string>& extra : {std::vector<std::string>{},
                                                {"--json"},
                                                {"--format", "prometheus"},
                                                {"--containers", "--cgroup", "/"},
                                                {"--containers", "--cgroup", "/", "--json"}}) {
    auto args = tree_args(tree);
    args.insert(args.begin(), "report");
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = testing::run_memopt(args, {kNoNvml});
    SCOPED_TRACE(::testing::PrintToString(extra));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(is_printable(r.out, /*keep_line_breaks=*/true)) << r.out;
    EXPECT_THAT(r.out, Not(HasSubstr("\xef\xbf\xbd")));  // U+FFFD: the bytes lost
    if (extra.empty() || extra.front() == "--containers") {
      EXPECT_THAT(r.out, HasSubstr(extra.size() == 4 ? "\\\\xff\\\\xfe" : printed));
    } else if (extra.front() == "--json") {
      EXPECT_EQ(nlohmann::json::parse(r.out)["cgroup"]["path"], printed);
    } else {  // label values escape the backslash once more
      EXPECT_THAT(r.out, HasSubstr("cgroup=\"/kubepods/pod1/ctr\\\\xff\\\\xfe\""));
    }
  }
}

TEST(HostileNames, DiagnoseJsonFromATree) {
  testing::TempTree tree;
  write_names(tree);
  auto args = tree_args(tree);
  args.insert(args.begin(), {"diagnose", "--json"});
  const auto r = testing::run_memopt(args, {kNoNvml});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_THAT(doc.dump(), HasSubstr("ab模型推理\\\\xe6"));
  EXPECT_THAT(doc.dump(), HasSubstr("\\\\xff\\\\xfe x"));
}

// Real processes that name themselves with prctl(PR_SET_NAME): the kernel does the cutting.
class NamedChild {
 public:
  explicit NamedChild(const std::string& name) {
    int ready[2];
    if (::pipe(ready) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_NAME, name.c_str(), 0, 0, 0);
      (void)::write(ready[1], "x", 1);
      for (;;) ::pause();
    }
    char c = 0;
    (void)::read(ready[0], &c, 1);
    ::close(ready[0]);
    ::close(ready[1]);
  }
  ~NamedChild() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  NamedChild(const NamedChild&) = delete;
  NamedChild& operator=(const NamedChild&) = delete;
  [[nodiscard]] int pid() const { return pid_; }

 private:
  int pid_ = -1;
};

TEST(HostileNames, RealProcessesThroughEveryReportFormat) {
  const NamedChild cut("ab模型推理服务器");
  const NamedChild raw(kRawName);
  ASSERT_GT(cut.pid(), 0);
  ASSERT_GT(raw.pid(), 0);
  ASSERT_EQ(testing::slurp("/proc/" + std::to_string(cut.pid()) + "/comm"), kCutName + "\n");

  // The test's own cgroup holds both children: memopt (started here) watches that cgroup.
  const auto json = testing::run_memopt({"report", "--json", "--top", "100000"}, {kNoNvml});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(json.out));
  std::map<int, std::string> by_pid;
  for (const auto& p : doc.at("processes")) by_pid[p.at("pid").get<int>()] = p.at("name");
  if (by_pid.count(cut.pid()) == 0) GTEST_SKIP() << "the children are not in memopt's target";
  EXPECT_EQ(by_pid[cut.pid()], kCutPrinted);
  EXPECT_EQ(by_pid[raw.pid()], kRawPrinted);

  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"report", "--format", "prometheus", "--top", "100000"},
        std::vector<std::string>{"report", "--top", "100000"},
        std::vector<std::string>{"diagnose", "--json", "--top", "100000"}}) {
    const auto r = testing::run_memopt(args, {kNoNvml});
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.err;
    EXPECT_TRUE(is_printable(r.out, /*keep_line_breaks=*/true)) << r.out;
  }
}

TEST(HostileNames, RunJsonAndTimelineWithABinaryArgument) {
  testing::TempTree tmp;
  const std::string timeline = tmp.path("timeline.html");
  const auto r = testing::run_memopt(
      {"run", "--json", "--timeline", timeline, "--", "/bin/sh", "-c", "exit 3", kRawName},
      {kNoNvml});
  ASSERT_EQ(r.exit_code, 3) << "the command's exit code survives: " << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc.at("command").back(), kRawPrinted);
  EXPECT_EQ(doc.at("exit_code"), 3);
  const std::string page = testing::slurp(timeline);
  EXPECT_TRUE(is_printable(page, /*keep_line_breaks=*/true));
  EXPECT_THAT(page, HasSubstr("xff"));
}

TEST(HostileNames, ErrorsEscapeBinaryBytesFromTheTree) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  tree.write("proc/meminfo", "MemTotal: \xff\xfe\x1b[2J kB\n");
  auto args = tree_args(tree);
  args.insert(args.begin(), "report");
  const auto r = testing::run_memopt(args, {kNoNvml});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("meminfo"));
  EXPECT_TRUE(is_printable(r.err, /*keep_line_breaks=*/true)) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("\x1b")));
}

}  // namespace
}  // namespace memopt
