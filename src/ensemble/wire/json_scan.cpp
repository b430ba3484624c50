#include "ensemble/wire/json_scan.hpp"

#include <nlohmann/json.hpp>

#include <array>

namespace ensemble::wire {
namespace {

constexpr int kMaxDepth = 512;

struct Cursor {
  const char* p;
  const char* end;

  bool at_end() const { return p >= end; }
  void skip_space() {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
  }
  bool take(char expected) {
    skip_space();
    if (p >= end || *p != expected) return false;
    ++p;
    return true;
  }
};

// At an opening quote: moves past the closing one. `raw` is the text between
// the quotes, `escaped` whether it holds a backslash escape.
bool scan_string(Cursor& c, std::string_view& raw, bool& escaped) {
  const char* start = ++c.p;
  escaped = false;
  while (c.p < c.end) {
    char ch = *c.p;
    if (ch == '"') {
      raw = std::string_view(start, static_cast<std::size_t>(c.p - start));
      ++c.p;
      return true;
    }
    if (static_cast<unsigned char>(ch) < 0x20) return false;  // JSON forbids raw control characters
    if (ch == '\\') {
      escaped = true;
      if (c.end - c.p < 2) return false;
      c.p += 2;
      continue;
    }
    ++c.p;
  }
  return false;
}

// The string's value: `raw` itself, or decoded by nlohmann when it has
// escapes (rare: ids, dates and states never need them).
bool decode(std::string_view raw, bool escaped, std::string& out) {
  if (!escaped) {
    out.assign(raw);
    return true;
  }
  auto parsed = nlohmann::json::parse(raw.data() - 1, raw.data() + raw.size() + 1, nullptr, false);
  if (!parsed.is_string()) return false;
  out = parsed.get<std::string>();
  return true;
}

bool is_scalar_char(char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '+' ||
         ch == '-' || ch == '.';
}

bool skip_value(Cursor& c, int depth);

// At '{' or '[': moves past the matching bracket.
bool skip_container(Cursor& c, int depth) {
  if (depth > kMaxDepth) return false;
  bool object = *c.p == '{';
  char close = object ? '}' : ']';
  ++c.p;
  c.skip_space();
  if (!c.at_end() && *c.p == close) {
    ++c.p;
    return true;
  }
  while (true) {
    if (object) {
      c.skip_space();
      std::string_view key;
      bool escaped = false;
      if (c.at_end() || *c.p != '"' || !scan_string(c, key, escaped) || !c.take(':')) return false;
    }
    if (!skip_value(c, depth + 1)) return false;
    c.skip_space();
    if (c.at_end()) return false;
    if (*c.p == ',') {
      ++c.p;
      continue;
    }
    if (*c.p != close) return false;
    ++c.p;
    return true;
  }
}

bool skip_value(Cursor& c, int depth) {
  c.skip_space();
  if (c.at_end()) return false;
  if (*c.p == '"') {
    std::string_view raw;
    bool escaped = false;
    return scan_string(c, raw, escaped);
  }
  if (*c.p == '{' || *c.p == '[') return skip_container(c, depth);
  const char* start = c.p;  // a number, true, false or null
  while (!c.at_end() && is_scalar_char(*c.p)) ++c.p;
  return c.p > start;
}

}  // namespace

bool scan_string_members(std::string_view text, std::span<const std::string_view> names,
                         std::span<std::string> values) {
  for (std::size_t i = 0; i < names.size(); ++i) values[i].clear();
  Cursor c{text.data(), text.data() + text.size()};
  if (!c.take('{')) return false;
  c.skip_space();
  if (!c.at_end() && *c.p == '}') {
    ++c.p;
  } else {
    std::string decoded_key;
    while (true) {
      c.skip_space();
      std::string_view key;
      bool escaped = false;
      if (c.at_end() || *c.p != '"' || !scan_string(c, key, escaped) || !c.take(':')) return false;
      if (escaped) {
        if (!decode(key, true, decoded_key)) return false;
        key = decoded_key;
      }
      std::size_t wanted = names.size();
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i] == key) wanted = i;
      }
      c.skip_space();
      if (wanted < names.size() && !c.at_end() && *c.p == '"') {
        std::string_view raw;
        bool value_escaped = false;
        if (!scan_string(c, raw, value_escaped) || !decode(raw, value_escaped, values[wanted])) return false;
      } else {
        if (wanted < names.size()) values[wanted].clear();  // present, but not a string
        if (!skip_value(c, 1)) return false;
      }
      c.skip_space();
      if (c.at_end()) return false;
      if (*c.p == ',') {
        ++c.p;
        continue;
      }
      if (*c.p != '}') return false;
      ++c.p;
      break;
    }
  }
  c.skip_space();
  return c.at_end();
}

std::string string_member(std::string_view text, std::string_view name) {
  std::array<std::string_view, 1> names{name};
  std::array<std::string, 1> value;
  return scan_string_members(text, names, value) ? std::move(value[0]) : std::string();
}

}  // namespace ensemble::wire
