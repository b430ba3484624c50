#include "ensemble/wire/json_scan.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <random>

namespace ensemble::wire {
namespace {

using nlohmann::json;

// The members `names` read by the scanner; nullopt when it rejects the text.
template <std::size_t N>
std::optional<std::array<std::string, N>> scan(std::string_view text, const std::array<std::string_view, N>& names) {
  std::array<std::string, N> values;
  if (!scan_string_members(text, names, values)) return std::nullopt;
  return values;
}

TEST(JsonScan, ReadsTheNamedStringMembersOfAHeader) {
  std::string header = json{{"msg_id", "abc-1"}, {"msg_type", "apply_reply"}, {"date", "2026-11-26T12:00:00.1Z"},
                            {"session", "s"}, {"version", "5.4"}}
                           .dump();
  auto values = scan(header, std::array<std::string_view, 2>{"msg_type", "date"});
  ASSERT_TRUE(values);
  EXPECT_EQ((*values)[0], "apply_reply");
  EXPECT_EQ((*values)[1], "2026-11-26T12:00:00.1Z");
}

TEST(JsonScan, LeavesAbsentAndNonStringMembersEmpty) {
  auto values = scan(R"({"a": 1, "b": null, "c": {"d": "x"}, "e": ["f"]})",
                     std::array<std::string_view, 5>{"a", "b", "c", "d", "zz"});
  ASSERT_TRUE(values);
  for (const auto& value : *values) EXPECT_EQ(value, "");
}

TEST(JsonScan, DecodesEscapesInValuesAndKeys) {
  auto values = scan(R"({"k\u0065y": "a\"b\\c\nd\u00e9\ud83d\ude00", "plain": "x"})",
                     std::array<std::string_view, 2>{"key", "plain"});
  ASSERT_TRUE(values);
  EXPECT_EQ((*values)[0], "a\"b\\c\nd\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ((*values)[1], "x");
}

TEST(JsonScan, SkipsNestedValuesWhoseStringsHoldBracketsAndQuotes) {
  auto values = scan(R"({"md": {"x": "}]\"{", "y": [1, {"z": "]"}, -2.5e3, true, false, null]}, "want": "ok"})",
                     std::array<std::string_view, 1>{"want"});
  ASSERT_TRUE(values);
  EXPECT_EQ((*values)[0], "ok");
}

TEST(JsonScan, TheLastOfRepeatedMembersWinsAsInNlohmann) {
  std::string text = R"({"a": "first", "a": "second", "b": "s", "b": 3})";
  auto values = scan(text, std::array<std::string_view, 2>{"a", "b"});
  ASSERT_TRUE(values);
  json dom = json::parse(text);
  EXPECT_EQ((*values)[0], dom["a"].get<std::string>());
  EXPECT_EQ((*values)[1], "");
}

TEST(JsonScan, RejectsTextThatIsNotAnObjectOfJsonShape) {
  std::array<std::string_view, 1> names{"a"};
  for (std::string_view bad : {"", "[]", "\"a\"", "{", "{\"a\": \"x}", "{\"a\": \"x\"", "{\"a\" \"x\"}",
                               "{\"a\": \"x\",}", "{\"a\": [1, 2}", "{\"a\": {\"b\": 1]}", "{\"a\": }",
                               "{\"a\": \"x\"} trailing", "{\"a\": \"x\ny\"}", "{\"a\": \"\\\"}", "{a: 1}",
                               "{\"a\": \"\\uZZZZ\"}"}) {
    EXPECT_FALSE(scan(bad, names)) << bad;
  }
}

TEST(JsonScan, RejectsNestingDeeperThanItsBoundInsteadOfOverflowingTheStack) {
  std::string deep = "{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_FALSE(scan(deep, std::array<std::string_view, 1>{"b"}));
  std::string fine = "{\"a\": " + std::string(100, '[') + std::string(100, ']') + ", \"b\": \"y\"}";
  auto values = scan(fine, std::array<std::string_view, 1>{"b"});
  ASSERT_TRUE(values);
  EXPECT_EQ((*values)[0], "y");
}

TEST(JsonScan, AcceptsEmptyObjectsAndWhitespaceEverywhere) {
  EXPECT_TRUE(scan(" { } ", std::array<std::string_view, 1>{"a"}));
  auto values = scan("\n{ \"a\" :\t\"v\" ,\r\n\"b\" : [ ] }\n", std::array<std::string_view, 1>{"a"});
  ASSERT_TRUE(values);
  EXPECT_EQ((*values)[0], "v");
}

json random_value(std::mt19937& rng, int depth) {
  std::uniform_int_distribution<int> kind(0, depth > 3 ? 4 : 6);
  static const std::array<std::string, 6> strings{"x", "}", "a\"b", "\\", "\xc3\xa9\n", ""};
  switch (kind(rng)) {
    case 0: return nullptr;
    case 1: return std::uniform_int_distribution<int>(-1000, 1000)(rng);
    case 2: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng);
    case 3: return strings[std::uniform_int_distribution<std::size_t>(0, strings.size() - 1)(rng)];
    case 4: return rng() % 2 == 0;
    case 5: {
      json array = json::array();
      for (int i = rng() % 4; i > 0; --i) array.push_back(random_value(rng, depth + 1));
      return array;
    }
    default: {
      json object = json::object();
      for (int i = rng() % 4; i > 0; --i) object[strings[rng() % strings.size()] + "k"] = random_value(rng, depth + 1);
      return object;
    }
  }
}

TEST(JsonScan, AgreesWithNlohmannOnRandomDocuments) {
  std::mt19937 rng(20261126);
  const std::array<std::string_view, 4> names{"xk", "}k", "a\"bk", "k"};
  for (int round = 0; round < 2000; ++round) {
    json object = json::object();
    for (int i = rng() % 6; i > 0; --i) object[std::string(names[rng() % names.size()])] = random_value(rng, 0);
    for (int indent : {-1, 2}) {
      std::string text = object.dump(indent);
      auto values = scan(text, names);
      ASSERT_TRUE(values) << text;
      for (std::size_t i = 0; i < names.size(); ++i) {
        auto it = object.find(std::string(names[i]));
        std::string expected = it != object.end() && it->is_string() ? it->get<std::string>() : "";
        EXPECT_EQ((*values)[i], expected) << text;
      }
    }
  }
}

}  // namespace
}  // namespace ensemble::wire
