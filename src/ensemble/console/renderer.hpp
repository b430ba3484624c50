// Turns iopub traffic into terminal text: streams as they arrive, Out[n]
// prompts, tracebacks, rich outputs reduced to text/plain (with a note for
// what a terminal cannot show), and other clients' activity marked with who
// sent it. Writes to the streams it is given, so it is testable without a
// terminal. Not thread-safe.
#pragma once

#include <ostream>
#include <string>

#include "ensemble/wire/message.hpp"

namespace ensemble::console {

class Renderer {
 public:
  Renderer(std::ostream& out, std::ostream& err, std::string own_session, bool color)
      : out_(out), err_(err), own_session_(std::move(own_session)), color_(color) {}

  // Renders one iopub message. Returns true if it printed anything.
  bool render(const wire::Message& message);
  // The text of a pager payload (obj?) or a display bundle.
  static std::string text_of_bundle(const wire::Json& data);
  // True if the message answers a request sent by this console.
  bool is_own(const wire::Message& message) const;
  void set_own_session(std::string session) { own_session_ = std::move(session); }
  // Whether the last thing printed left the cursor at the start of a line.
  bool at_line_start() const { return at_line_start_; }
  void ensure_line_start();

 private:
  void write(std::ostream& stream, const std::string& text);
  std::string who(const wire::Message& message) const;
  std::string out_prompt(int count, const std::string& prefix) const;

  std::ostream& out_;
  std::ostream& err_;
  std::string own_session_;
  bool color_;
  bool at_line_start_ = true;
};

}  // namespace ensemble::console
