#include "memopt/render/html.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <stdexcept>

#include "memopt/render/assets.hpp"

namespace memopt::render {
namespace {

TEST(Html, EscapesWhatCouldOpenATagOrCloseAnAttribute) {
  EXPECT_EQ(escape_html(R"(<b a="x">&</b>)"), "&lt;b a=&quot;x&quot;&gt;&amp;&lt;/b&gt;");
  EXPECT_EQ(escape_html("python3 serve.py"), "python3 serve.py");
}

TEST(Html, ScriptJsonCannotCloseItsScriptElement) {
  EXPECT_EQ(script_json(R"({"name":"</script><script>alert(1)</script>"})"),
            R"({"name":"\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e"})");
}

TEST(Html, ScriptJsonCannotOpenACommentOrEndALine) {
  // `<!--<script>` fits in a comm: it put the rest of the page's script in a comment.
  EXPECT_EQ(script_json(R"({"name":"<!--<script>","a":"&"})"),
            R"({"name":"\u003c!--\u003cscript\u003e","a":"\u0026"})");
  EXPECT_EQ(script_json("{\"x\":\"a\u2028b\u2029c\"}"), R"({"x":"a\u2028b\u2029c"})");
  EXPECT_EQ(script_json("{\"x\":\"\u00e9\u20ac\"}"), "{\"x\":\"\u00e9\u20ac\"}");
}

TEST(Html, EveryPageHasEverySlotFilledAndNoneLeft) {
  const std::vector<std::pair<std::string_view, std::string>> slots{
      {"title", "T"}, {"data", "{}"}, {"text", "X"}, {"what", "OOM kill"}, {"cards", ""}};
  for (const char* page : {"live.html", "run.html", "postmortem.html"}) {
    const std::string html = fill_page(page, slots);
    EXPECT_EQ(html.find("@@"), std::string::npos) << page;
    EXPECT_NE(html.find(std::string(asset("page.css")).substr(0, 40)), std::string::npos) << page;
    EXPECT_NE(html.find("uPlot"), std::string::npos) << page << ": no chart library";
    EXPECT_TRUE(std::regex_search(html, std::regex("^<!doctype html>"))) << page;
  }
}

TEST(Html, InsertedTextIsNotReadAsSlots) {
  const std::string html =
      fill_page("run.html", {{"title", "@@data@@"}, {"data", R"({"cmd":"echo @@title@@"})"}});
  EXPECT_NE(html.find("<code>@@data@@</code>"), std::string::npos);
  EXPECT_NE(html.find(R"({"cmd":"echo @@title@@"})"), std::string::npos);
}

TEST(Html, AMissingSlotOrPageIsABuildMistakeNotAnEmptyPage) {
  EXPECT_THROW((void)fill_page("run.html", {{"title", "T"}}), std::logic_error);
  EXPECT_THROW((void)asset("nope.html"), std::logic_error);
}

}  // namespace
}  // namespace memopt::render
