#include "renderer.hpp"

#include <cctype>
#include <sstream>

namespace ensemble::console {

namespace {
constexpr const char* kRed = "\033[31m";
constexpr const char* kBoldRed = "\033[1;31m";
constexpr const char* kGreen = "\033[32m";
constexpr const char* kReset = "\033[0m";

std::string string_field(const wire::Json& json, const char* name) {
  auto it = json.find(name);
  if (it == json.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {  // multi-line strings in notebook form
    std::string joined;
    for (const auto& part : *it) {
      if (part.is_string()) joined += part.get<std::string>();
    }
    return joined;
  }
  return {};
}
// Removes ANSI escape sequences (ESC [ ... letter), for output that is not
// going to a terminal.
std::string strip_ansi(const std::string& text) {
  std::string plain;
  plain.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\033' && i + 1 < text.size() && text[i + 1] == '[') {
      i += 2;
      while (i < text.size() && !std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
      continue;
    }
    plain.push_back(text[i]);
  }
  return plain;
}
}  // namespace

bool Renderer::is_own(const wire::Message& message) const {
  auto it = message.parent_header.find("session");
  return it == message.parent_header.end() || !it->is_string() || it->get<std::string>() == own_session_;
}

std::string Renderer::who(const wire::Message& message) const {
  auto it = message.parent_header.find("username");
  std::string name = it != message.parent_header.end() && it->is_string() ? it->get<std::string>() : "";
  return "[" + (name.empty() ? std::string("another client") : name) + "] ";
}

void Renderer::write(std::ostream& stream, const std::string& text) {
  if (text.empty()) return;
  stream << text;
  stream.flush();
  at_line_start_ = text.back() == '\n';
}

void Renderer::ensure_line_start() {
  if (!at_line_start_) write(out_, "\n");
}

std::string Renderer::out_prompt(int count, const std::string& prefix) const {
  std::string prompt = prefix + "Out[" + std::to_string(count) + "]: ";
  return color_ ? std::string(kRed) + prompt + kReset : prompt;
}

std::string Renderer::text_of_bundle(const wire::Json& data) {
  if (!data.is_object()) return {};
  std::string text = string_field(data, "text/plain");
  std::string others;
  for (const auto& [mime, value] : data.items()) {
    (void)value;
    if (mime == "text/plain") continue;
    others += others.empty() ? mime : ", " + mime;
  }
  if (text.empty() && !others.empty()) return "<" + others + " output: not shown in a terminal>";
  return text;
}

bool Renderer::render(const wire::Message& message) {
  const std::string& type = message.header.msg_type;
  const wire::Json& content = message.content;
  const bool own = is_own(message);
  const std::string prefix = own ? "" : who(message);

  if (type == "stream") {
    std::string text = string_field(content, "text");
    if (!own && !text.empty()) text = prefix + text;
    write(string_field(content, "name") == "stderr" ? err_ : out_, text);
    return !text.empty();
  }
  if (type == "execute_input") {
    if (own) return false;  // our own input is already on screen
    ensure_line_start();
    std::string prompt = prefix + "In [" + std::to_string(content.value("execution_count", 0)) + "]: ";
    write(out_, (color_ ? std::string(kGreen) + prompt + kReset : prompt) + string_field(content, "code") + "\n");
    return true;
  }
  if (type == "execute_result") {
    ensure_line_start();
    std::string text = text_of_bundle(content.value("data", wire::Json::object()));
    // Multi-line results start on their own line, as IPython shows them.
    if (text.find('\n') != std::string::npos) text = "\n" + text;
    write(out_, out_prompt(content.value("execution_count", 0), prefix) + text + "\n");
    return true;
  }
  if (type == "display_data" || type == "update_display_data") {
    ensure_line_start();
    write(out_, prefix + text_of_bundle(content.value("data", wire::Json::object())) + "\n");
    return true;
  }
  if (type == "error") {
    ensure_line_start();
    std::ostringstream text;
    if (!own) text << prefix << "\n";
    for (const auto& line : content.value("traceback", wire::Json::array())) {
      if (line.is_string()) text << (color_ ? line.get<std::string>() : strip_ansi(line.get<std::string>())) << "\n";
    }
    if (content.value("traceback", wire::Json::array()).empty()) {
      text << (color_ ? kBoldRed : "") << string_field(content, "ename") << (color_ ? kReset : "") << ": "
           << string_field(content, "evalue") << "\n";
    }
    write(err_, text.str());
    return true;
  }
  if (type == "clear_output") {
    if (!content.value("wait", false)) {
      ensure_line_start();
    }
    return false;
  }
  return false;
}

}  // namespace ensemble::console
